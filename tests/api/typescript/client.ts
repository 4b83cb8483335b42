// A client of vaultauth written against the types openapi-typescript generates from
// /openapi.json (api.d.ts, made by tests/api/test_openapi_typescript.py next to this file).
// `tsc` must accept every valid use below and refuse each line marked @ts-expect-error.
import type { components, paths } from "./api";

type Collection = paths["/v1/integrations/{integrationId}/auth"];
type Item = paths["/v1/integrations/{integrationId}/auth/{authId}"];
type CreateBody = NonNullable<Collection["post"]["requestBody"]>["content"]["application/json"];
type UpdateBody = NonNullable<Item["patch"]["requestBody"]>["content"]["application/json"];
type AuthRecord = Item["get"]["responses"][200]["content"]["application/json"];
type AuthPage = Collection["get"]["responses"][200]["content"]["application/json"];
type CreateError = Collection["post"]["responses"][422]["content"]["application/json"];
type AuthType = components["schemas"]["AuthType"];

// One create body of each authType, in both published spellings and every header shape.
export const noAuth: CreateBody = { authType: "NO_AUTH", headers: { "X-Tenant": "t1" } };
export const basic: CreateBody = { authType: "basic_auth", username: "svc-user", password: "pw" };
export const bearer: CreateBody = {
  authType: "BEARER_TOKEN",
  token: "eyJhbGciOi",
  headers: [{ key: "Accept", value: "application/json" }],
};
export const apiKey: CreateBody = {
  authType: "API_KEY",
  apiKey: { key: "X-Api-Key", value: "k-123", position: "query" },
  headers: [[{ key: "X-Trace", value: "on" }]],
};
// The published example sends every credential field with API_KEY: the others are ignored.
export const published: CreateBody = {
  authType: "API_KEY",
  token: "t",
  username: "u",
  password: "p",
  apiKey: { key: "X-Api-Key", value: "k-123" },
};

// PATCH: every field optional; null means "leave it as it is".
export const rotate: UpdateBody = { token: "the-new-token", headers: null, authType: null };
export const rename: UpdateBody = { apiKey: { key: "api_key", position: "query" } };
export const clear: UpdateBody = { headers: [] };

// What the document refuses, the compiler refuses.
// @ts-expect-error BEARER_TOKEN needs its token
export const noToken: CreateBody = { authType: "BEARER_TOKEN" };
// @ts-expect-error API_KEY needs apiKey
export const noApiKey: CreateBody = { authType: "API_KEY" };
// @ts-expect-error an apiKey needs its value on create
export const noValue: CreateBody = { authType: "API_KEY", apiKey: { key: "X-Api-Key" } };
// @ts-expect-error not an auth type
export const unknownType: CreateBody = { authType: "OAUTH2" };
// @ts-expect-error header values are strings
export const numericHeader: CreateBody = { authType: "NO_AUTH", headers: { "X-A": 1 } };
// @ts-expect-error an API key position is header or query
export const badPosition: UpdateBody = { apiKey: { key: "k", position: "body" } };

// Answers: canonical and strict.
export function describe(record: AuthRecord): string {
  const type: AuthType = record.authType;
  const where = record.apiKey === null ? "-" : `${record.apiKey.key}@${record.apiKey.position}`;
  const names: string[] = record.headers.map((header) =>
    "value" in header ? `${header.key}: ${header.value}` : `${header.key}: (secret)`,
  );
  const hosts: string = record.allowedHosts === null ? "*" : record.allowedHosts.join(",");
  // @ts-expect-error a record never carries a secret
  const secret: unknown = record.token;
  return [record.authId, record.integrationId, type, where, ...names, `${record.version}`,
    record.createdAt, record.updatedAt, hosts, record.label ?? "", String(secret)].join(" ");
}

export function nextPage(page: AuthPage): string | null {
  return page.data.length > 0 ? page.nextCursor : null;
}

export function errorCode(answer: CreateError): string {
  const field: string | undefined = answer.error.field;
  return field === undefined ? answer.error.code : `${answer.error.code} at ${field}`;
}
