// A real OpenID Connect provider for the tests: panva's certified `oidc-provider` (npm), on
// loopback. Through the client credentials grant it issues JWT access tokens (RFC 9068) for
// the ODCS resource, or opaque ones when the resource asked for is `${resource}/opaque` (same
// audience), with the scopes asked for and a `groups` claim; it introspects (RFC 7662) and
// revokes (RFC 7009) tokens:
//   odcs-client: tokens for ten minutes, in group releng;
//   odcs-short:  tokens expiring after one second, in no group;
//   odcs-stranger: tokens for ten minutes, in no group;
//   odcs-server: the ODCS server's own credentials, for introspection;
//   odcs-cli:    a public native client logging people in in a browser (authorization code
//                with PKCE, any loopback port, refresh tokens); its users are in group releng.
// Its development login pages take any login and password.
// Usage: node provider.mjs PORT NODE_MODULES   (prints "ready" once listening)
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const port = Number(process.argv[2]);
const modules = process.argv[3];
const { default: Provider } = await import(
  pathToFileURL(join(modules, "oidc-provider", "lib", "index.js")).href
);
const issuer = `http://127.0.0.1:${port}`;
const resource = "https://odcs.example.com";
const scopes = [
  "openid",
  "https://pagure.io/odcs/new-compose",
  "https://pagure.io/odcs/renew-compose",
  "https://pagure.io/odcs/delete-compose",
].join(" ");
const client = (id) => ({
  client_id: id,
  client_secret: "secret",
  grant_types: ["client_credentials"],
  redirect_uris: [],
  response_types: [],
  scope: scopes,
});

const provider = new Provider(issuer, {
  clients: [
    client("odcs-client"),
    client("odcs-short"),
    client("odcs-stranger"),
    client("odcs-server"),
    {
      client_id: "odcs-cli",
      application_type: "native",
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: ["http://127.0.0.1/"],
      scope: scopes,
    },
  ],
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
  scopes: scopes.split(" "),
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => ({
        scope: scopes,
        audience: resource,
        accessTokenFormat: indicator === `${resource}/opaque` ? "opaque" : "jwt",
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
  ttl: { ClientCredentials: (ctx, token, c) => (c.clientId === "odcs-short" ? 1 : 600) },
  extraTokenClaims: (ctx, token) => ({
    groups: ["odcs-client", "odcs-cli"].includes(token.clientId) ? ["releng"] : [],
  }),
});
provider.listen(port, "127.0.0.1", () => console.log("ready"));
