/**
 * Registers a route of the HTTP contract (shared/http/routes.ts): its method
 * and path come from the table, its path parameters, query, body and the
 * headers the table names are validated with the table's schemas before the
 * handler runs (bad input is a 400 that names the field, and nothing else
 * happens), and the handler's
 * reply is typed by the table's reply schema.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type * as v from 'valibot';
import type { ReplyIn, RouteSpec } from '../../shared/http/routes.ts';
import { validate, ValidationError } from '../../shared/protocol/schemas.ts';

type Hook = (req: FastifyRequest) => Promise<void>;
type Out<S> = S extends v.GenericSchema ? v.InferOutput<S> : undefined;

export interface RouteCall<T extends RouteSpec> {
  params: Out<T['params']>;
  query: Out<T['query']>;
  /** The request headers the route's table entry names, validated (a route naming none gets undefined). */
  headers: Out<T['headers']>;
  body: T['body'] extends 'binary' ? Uint8Array : Out<T['body']>;
  req: FastifyRequest;
  reply: FastifyReply;
}

export type Handler<T extends RouteSpec> = (call: RouteCall<T>) => Promise<ReplyIn<T> | FastifyReply>;

/** `serve(ROUTES.job, handler)`: the route as the contract states it, behind the hook its `auth` names. */
export function routeServer(app: FastifyInstance, auth: Record<Exclude<RouteSpec['auth'], 'none'>, Hook>) {
  return <T extends RouteSpec>(spec: T, handler: NoInfer<Handler<T>>): void => {
    const what = `${spec.method} ${spec.path}`;
    app.route({
      method: spec.method,
      url: spec.path,
      ...(spec.auth !== 'none' ? { onRequest: auth[spec.auth] } : {}),
      handler: async (req, reply) => {
        const params = spec.params ? validate(spec.params, req.params, `path of ${what}`) : undefined;
        const query = spec.query ? validate(spec.query, req.query, `query of ${what}`) : undefined;
        const headers = spec.headers ? validate(spec.headers, req.headers, `headers of ${what}`) : undefined;
        let body: unknown;
        if (spec.body === 'binary') {
          if (!(req.body instanceof Uint8Array)) throw new ValidationError('send the body as Content-Type: application/octet-stream');
          body = req.body;
        } else if (spec.body) {
          body = validate(spec.body, req.body ?? {}, `body of ${what}`);
        }
        return handler({ params, query, headers, body, req, reply } as RouteCall<T>);
      },
    });
  };
}
