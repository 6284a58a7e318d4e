import { maintainTemplates } from '../domain/templates/templates.js';
import type { Job } from './scheduler.js';

export const TEMPLATES = 'templates';
/** The leader builds, seals, retires and removes pools' templates (src/domain/templates/templates.ts). */
export const templatesJob = (schedule: string): Job => ({ name: TEMPLATES, schedule, run: maintainTemplates });
