// One compiled validator per route schema for the whole process, shared by every management
// server in it. Fastify's default builds an Ajv of its own for each instance and compiles each
// route's body schema again: a third of a management start (~20 ms of ~55 ms in process, measured
// over 15 starts of startBroker({ managementPort: -1 })), paid by every test and application that
// starts brokers with the API on. The Ajv is fastify's own compiler with fastify's options (the
// pool below is keyed by them), so what is accepted and the 400s' texts do not change.
import AjvCompiler from '@fastify/ajv-compiler';

type RouteDefinition = Parameters<ReturnType<AjvCompiler.BuildCompilerFromPool>>[0];
type Validator = ReturnType<ReturnType<AjvCompiler.BuildCompilerFromPool>>;

const pool = AjvCompiler();
/**
 * Per compiler of the pool (one per set of Ajv options and external schemas), by part (body,
 * querystring…) and schema text: route schemas are new objects per server.
 */
const compiled = new WeakMap<object, Map<string, Validator>>();

/** For Fastify's `schemaController.compilersFactory.buildValidator`. */
export const sharedValidators: AjvCompiler.BuildCompilerFromPool = (externalSchemas, options) => {
  const compile = pool(externalSchemas, options);
  const byText = compiled.get(compile) ?? new Map<string, Validator>();
  compiled.set(compile, byText);
  return (route: RouteDefinition): Validator => {
    const key = `${route.httpPart ?? ''}\0${JSON.stringify(route.schema)}`;
    let v = byText.get(key);
    if (!v) byText.set(key, (v = compile(route)));
    return v;
  };
};
