import Docker from 'dockerode';
import { unavailable } from './errors.js';

type DialCallback = (error: (Error & { statusCode?: number; code?: string }) | null, data?: unknown) => void;
interface Modem {
  dial: (options: unknown, callback: DialCallback) => void;
}

/**
 * `DOCKER_HOST` as the Docker CLI reads it: unix:///path or tcp://host:port; the local socket when unset.
 * With `timeoutMs`, a request that sees no byte for that long is cut (a frozen dockerd), and any failure to reach
 * Docker (no HTTP answer) surfaces as SERVICE_UNAVAILABLE; Docker's own HTTP answers (404, 409...) pass unchanged.
 * Without it (the event stream, which may stay quiet for hours) requests wait as long as Docker takes.
 */
export function connectDocker(dockerHost: string | undefined, timeoutMs?: number): Docker {
  const docker = new Docker({ ...address(dockerHost), ...(timeoutMs ? { timeout: timeoutMs } : {}) });
  if (timeoutMs) {
    const modem = docker.modem as unknown as Modem;
    const dial = modem.dial.bind(modem);
    modem.dial = (options, callback) => {
      const started = Date.now();
      dial(options, (error, data) => {
        if (!error || typeof error.statusCode === 'number') return callback(error, data);
        const reason = Date.now() - started >= timeoutMs ? `no answer within ${timeoutMs} ms` : (error.code ?? error.message);
        callback(Object.assign(unavailable('docker', reason), { cause: error }), data);
      });
    };
  }
  return docker;
}

function address(dockerHost: string | undefined): Docker.DockerOptions {
  if (!dockerHost) return { socketPath: '/var/run/docker.sock' };
  const url = new URL(dockerHost);
  if (url.protocol === 'unix:') return { socketPath: url.pathname };
  return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
}
