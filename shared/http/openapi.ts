/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the route table
 * and its valibot schemas (routes.ts), so it cannot drift from what the
 * coordinator validates and answers. Served at /api/v1/openapi.json.
 */
import { type ConversionConfig, toJsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import { ErrorReplySchema } from './replies.ts';
import { type NonJson, ROUTES, type RouteSpec } from './routes.ts';
import { API_VERSION } from './version.ts';

type JsonSchema = Record<string, unknown>;

// Checks with no JSON Schema counterpart (finiteness, refinements) stay the coordinator's; the document states the shape.
const CONVERSION: ConversionConfig = { target: 'draft-2020-12', ignoreActions: ['finite', 'safe_integer', 'check', 'raw_check'] };

function schemaOf(s: v.GenericSchema): JsonSchema {
  const { $schema: _drop, ...rest } = toJsonSchema(s, CONVERSION) as JsonSchema;
  return rest;
}

function content(reply: v.GenericSchema | NonJson): Record<string, unknown> | undefined {
  if (reply === 'empty') return undefined;
  if (reply === 'binary') return { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } };
  if (reply === 'text') return { 'text/plain': { schema: { type: 'string' } } };
  return { 'application/json': { schema: schemaOf(reply) } };
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
/** `idempotency-key` as the document spells a header: Idempotency-Key (header names are case-insensitive). */
const headerName = (name: string) => name.replace(/(^|-)([a-z])/g, (_, dash: string, ch: string) => dash + ch.toUpperCase());

function parameters(r: RouteSpec): unknown[] {
  const out: unknown[] = [];
  for (const [where, s] of [['path', r.params], ['query', r.query], ['header', r.headers]] as const) {
    if (!s) continue;
    const obj = schemaOf(s) as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, schema] of Object.entries(obj.properties ?? {})) {
      const { description, ...rest } = schema as { description?: string };
      out.push({
        name: where === 'header' ? headerName(name) : name, in: where, required: where === 'path' || (obj.required ?? []).includes(name), schema: rest,
        ...(description ? { description } : {}),
      });
    }
  }
  return out;
}

function operation(name: string, r: RouteSpec): Record<string, unknown> {
  const responses: Record<string, unknown> = {
    [String(r.status)]: { description: 'success', ...(content(r.reply) ? { content: content(r.reply) } : {}) },
  };
  for (const [status, alt] of Object.entries(r.also ?? {})) {
    responses[status] = { description: alt.description, ...(content(alt.reply) ? { content: content(alt.reply) } : {}) };
  }
  responses['4XX'] = { $ref: '#/components/responses/Refused' };
  responses['5XX'] = { $ref: '#/components/responses/Failed' };
  const params = parameters(r);
  return {
    operationId: name,
    summary: r.summary,
    tags: [r.tag],
    ...(params.length ? { parameters: params } : {}),
    ...(r.body ? {
      requestBody: {
        required: true,
        content: r.body === 'binary' ? content('binary') : { 'application/json': { schema: schemaOf(r.body) } },
      },
    } : {}),
    ...(r.auth === 'project' ? { security: [{ projectToken: [] }] } : r.auth === 'operator' ? { security: [{ operatorToken: [] }] }
      // Either token: OpenAPI lists alternatives as separate requirements.
      : r.auth === 'group' ? { security: [{ projectToken: [] }, { operatorToken: [] }] } : {}),
    responses,
  };
}

/** The whole document, for the routes given (all of them by default). */
export function openApiDocument(opts: { version: string; serverUrl?: string }, routes: Record<string, RouteSpec> = ROUTES): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, r] of Object.entries(routes)) {
    (paths[openApiPath(r.path)] ??= {})[r.method.toLowerCase()] = operation(name, r);
  }
  const error = { 'application/json': { schema: schemaOf(ErrorReplySchema) } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'tabgrid coordinator',
      version: opts.version,
      summary: `The HTTP API v${API_VERSION} of a tabgrid coordinator: projects submit jobs, anyone reads the swarm and the credit ledger.`,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
    tags: [
      { name: 'project', description: 'A project\'s own blobs and jobs (its API token)' },
      { name: 'public', description: 'Read-only views anyone may fetch' },
      { name: 'credit', description: 'Credit, wallet claims and payouts' },
      { name: 'operations', description: 'Probes and metrics' },
      { name: 'operator', description: 'Projects and their tokens (the operator token)' },
      { name: 'group', description: 'A private project\'s invite codes and group (the project\'s token, or the operator token)' },
    ],
    paths,
    components: {
      securitySchemes: {
        projectToken: { type: 'http', scheme: 'bearer', description: 'A project\'s API token (tabgrid prints it at first start and keeps it in <data>/token)' },
        operatorToken: { type: 'http', scheme: 'bearer', description: 'The coordinator\'s operator token (made at first start, kept in <data>/operator-token)' },
      },
      responses: {
        Refused: {
          description: 'refused: bad input (400), no or wrong token (401), not allowed (403), not found (404), conflict (409), too large (413), '
            + 'an Idempotency-Key already used with another request (422)',
          content: error,
        },
        Failed: { description: 'the coordinator failed (it logged why) or is starting (503)', content: error },
      },
    },
  };
}
