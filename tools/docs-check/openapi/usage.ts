// The TypeScript types generated from crates/ingress/openapi.json (openapi-typescript, as
// ./api.d.ts), used as an integrator would; scripts/openapi-check.sh type-checks this file with
// `tsc --noEmit --strict` beside the generated types and a list of every operationId
// (./operations.ts, made from the document).
import type { components, operations, paths } from "./api";

type Schemas = components["schemas"];

// GET /v2/biometric-validations/{id}: the client's full view or the page's view, told apart
// by `client` (required in the one, absent from the other).
type Read =
  paths["/v2/biometric-validations/{id}"]["get"]["responses"][200]["content"]["application/json"];

export function describe(body: Read): string {
  const data = body.data;
  if ("client" in data) {
    const full: Schemas["BiometricValidation"] = data;
    return `${full.client}: ${full.status}, ${full.attempts?.length ?? 0} attempts`;
  }
  const page: Schemas["PublicView"] = data;
  return `${page.status}: liveness ${page.liveness}, ${page.attemptsLeft} attempts left`;
}

// The list query: one `in_status` array, and each bound of `createdAt` an object of its own
// whose key is what is sent (`where>_createdAt`, `where<_createdAt`).
type ListQuery = NonNullable<paths["/v2/biometric-validations"]["get"]["parameters"]["query"]>;

export const query: ListQuery = {
  in_status: ["new", "pending"],
  where_type: "onboarding",
  createdAfter: { "where>_createdAt": "2026-01-01T00:00:00Z" },
  createdBefore: { "where<_createdAt": "2027-01-01T00:00:00Z" },
  sort: "createdAt",
  perPage: 5,
};

// The create request and its answer. (openapi-typescript makes a property with a `default`
// required, as it is in answers: a request type spells out `requires2FA`, `sendViaEmail` and
// `language`, which the service would default.)
export const create: Schemas["CreateBiometricValidationRequest"] = {
  project: "project_123456789",
  projectFlow: "flow_123456789",
  identifier: "user@example.com",
  type: "validation",
  requires2FA: false,
  sendViaEmail: false,
  language: "en",
};

type Created =
  operations["createBiometricValidation"]["responses"][201]["content"]["application/json"];

export function link(created: Created): string | undefined {
  return created.data.url;
}

// An error body, whatever the operation.
export function code(error: Schemas["Error"]): string {
  return error.code;
}
