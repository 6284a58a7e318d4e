import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printSchema } from 'graphql';
import { projectRoot } from '../project-root.js';
import { schema } from '../schema/index.js';

/** `npm run schema`: writes schema.graphql, the SDL a frontend generates its types from. */
export const schemaFile = join(projectRoot, 'schema.graphql');
export const printedSchema = (): string => `${printSchema(schema)}\n`;

if (process.argv[1] === import.meta.filename) writeFileSync(schemaFile, printedSchema());
