import Docker from 'dockerode';

/** `DOCKER_HOST` as the Docker CLI reads it: unix:///path or tcp://host:port; the local socket when unset. */
export function connectDocker(dockerHost: string | undefined): Docker {
  if (!dockerHost) return new Docker({ socketPath: '/var/run/docker.sock' });
  const url = new URL(dockerHost);
  if (url.protocol === 'unix:') return new Docker({ socketPath: url.pathname });
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}
