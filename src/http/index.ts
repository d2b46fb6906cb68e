/**
 * underway/http: the HTTP API v1 (docs/http.md) as a fetch-standard app that mounts into any
 * Node web app, with live server-sent events, auth, share links, webhooks, e-mail and metrics.
 */

export type { FetchEnv, NodeHandler, Underway } from './app.ts';
export { createUnderway } from './app.ts';
export type { Authenticate, AuthOptions, HostRequest, TokenEntry, User } from './auth.ts';
export type { CsrfOptions } from './csrf.ts';
export type { EmailMessage, EmailMessageInput, EmailOptions } from './email.ts';
export type { ErrorBody } from './errors.ts';
export { HttpError } from './errors.ts';
export type { JobJson } from './job-json.ts';
export type { MetricsRegistry, UnderwayMetrics } from './metrics.ts';
export { openApiDocument } from './openapi.ts';
export type { HttpOptions, ResolvedPaths, SseOptions, UnderwayHttpOptions } from './options.ts';
export type { RateLimitOptions } from './rate-limit.ts';
export type { RunningServer, ServeHttpOptions } from './serve.ts';
export { serveHttp } from './serve.ts';
export type { ShareLinkOptions } from './share-links.ts';
export { ShareLinks } from './share-links.ts';
export type {
  VerifyWebhookOptions,
  WebhookDelivery,
  WebhookOptions,
  WebhookPayload,
  WebhookRequestHeaders,
} from './webhooks.ts';
export { signWebhook, verifyWebhook } from './webhooks.ts';
