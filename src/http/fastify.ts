import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Underway } from './app.ts';

/**
 * The part of a Fastify instance the plugin uses, written out so that underway does not depend
 * on Fastify: any Fastify 4 or 5 instance fits.
 */
export interface FastifyInstanceLike {
  removeAllContentTypeParsers(): void;
  addContentTypeParser(
    contentType: string,
    parser: (request: unknown, payload: unknown, done: (error: Error | null, body?: unknown) => void) => void,
  ): void;
  route(options: {
    method: string[];
    url: string;
    handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => void;
  }): unknown;
}

export interface FastifyRequestLike {
  raw: IncomingMessage;
}

export interface FastifyReplyLike {
  raw: ServerResponse;
  hijack(): void;
}

export interface UnderwayFastifyOptions {
  underway: Underway;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * A Fastify plugin that serves underway under its `mountPath` (`/underway` by default). Register
 * it without `fastify-plugin`: its body handling stays inside it, and the app's own parsers and
 * routes are untouched. `authenticate` gets Fastify's request as `host.fastify` (with whatever
 * the app's hooks put on it, e.g. `request.user`).
 *
 * @example
 * import { underwayFastify } from 'underway/fastify';
 * await app.register(underwayFastify, { underway });
 */
export function underwayFastify(
  fastify: FastifyInstanceLike,
  options: UnderwayFastifyOptions,
  done: (error?: Error) => void,
): void {
  const { underway } = options;
  // underway reads its own bodies (JSON, forms, multipart) with its own size limit: inside this
  // plugin no parser of the app's touches the stream.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, _payload, next) => next(null));
  const handler = (request: FastifyRequestLike, reply: FastifyReplyLike) => {
    reply.hijack();
    underway.handleNode(request.raw, reply.raw, { node: request.raw, fastify: request });
  };
  const { mountPath, paths } = underway;
  const under = (path: string) => mountPath === '' || path === mountPath || path.startsWith(`${mountPath}/`);
  const urls = new Set([mountPath || '/', `${mountPath}/*`]);
  // Paths set outside the mount path on their own.
  for (const path of [paths.basePath, paths.pagesPath]) if (!under(path)) urls.add(path || '/').add(`${path}/*`);
  for (const path of [paths.healthPath, paths.metricsPath]) if (path !== false && !under(path)) urls.add(path);
  for (const url of urls) fastify.route({ method: METHODS, url, handler });
  done();
}
