/**
 * Test helper: a small https server playing Hull (its smart-notifier signing key URL, its
 * `/api/v1/me/user_report` (admin scope required) and `PUT /api/v1/<id>/status`), with a throwaway CA made by `openssl` at test time, and a signer
 * that sends notifications the way Hull does (RS256 JWT, version and key-URL headers).
 * The connector trusts the CA through `StartOptions.hullCaCerts`; nothing of ours is stubbed.
 */
import { exportSPKI, generateKeyPair, jwtVerify, SignJWT } from "jose";

/** One request Hull's API received. */
export interface ApiRequest {
  claims: Record<string, unknown>;
  token: Record<string, unknown>;
  headers: Headers;
  at: number;
}

/** One status a connector sent to `PUT /api/v1/<id>/status`. */
export interface StatusPut {
  id: string;
  body: { status: string; messages: string[] };
  headers: Headers;
}

/** A page the fake serves at a path of its choosing (for key URLs that are not a key). */
export interface Page {
  body: string;
  type: string;
  /** Sends the body one byte at a time, this many ms apart. */
  trickleMs?: number;
  /** Answers only once this settles (a slow Hull, released by the test, not by a delay). */
  answerAfter?: Promise<unknown>;
}

/** Claims of a signed token: a number sets it, null leaves it out (default: now, now + 5 min). */
export interface TokenClaims {
  iat?: number | null;
  exp?: number | null;
}

/**
 * How the fake API answers a user report: a body, a status, or `streamBytes` bytes of JSON-ish
 * text streamed in 64 KB chunks without a Content-Length (Infinity: never ending). With
 * `answerAfter`, the answer waits until that promise settles (a slow Hull, released by the test
 * once what should happen meanwhile has happened, not after a fixed delay).
 */
export type Report =
  | { body: unknown; answerAfter?: Promise<unknown> }
  | { status: number; answerAfter?: Promise<unknown> }
  | { streamBytes: number; answerAfter?: Promise<unknown> };

export interface FakeHull {
  /** `https://localhost:<port>` (the certificate also names 127.0.0.1). */
  url: string;
  port: number;
  /** PEM of the CA the connector must trust. */
  caCert: string;
  /** Requests per path (key URLs, API). */
  hits: Map<string, number>;
  api: ApiRequest[];
  /** Statuses received, each from a request whose `Hull-Access-Token` was the secret. */
  statuses: StatusPut[];
  /** Decides the report for a token's `io.hull.asUser` claims (default: 404). */
  reports: (claims: Record<string, unknown>) => Report | undefined;
  /** Bytes sent so far by `streamBytes` answers, and whether the reader cancelled one. */
  streamed: { bytes: number; cancelled: number };
  /** Connector secret the API checks tokens with. */
  secret: string;
  /** The signing key's public half (SPKI PEM), as `/key` serves it. */
  publicKeyPem: string;
  /** Pages served at their path instead of the key (checked first). */
  pages: Map<string, Page>;
  /** Headers of a Hull-signed request for `body`, naming `keyUrl` (default: this server's). */
  sign(
    body: { notification_id: string },
    keyUrl?: string,
    claims?: TokenClaims,
  ): Promise<Record<string, string>>;
  close(): Promise<void>;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A CA and a localhost certificate signed by it, in a temp directory. */
async function makeCertificates(): Promise<{ ca: string; cert: string; key: string }> {
  const dir = await Deno.makeTempDir();
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(
    dir,
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=hull-browser test CA",
  );
  await openssl(
    dir,
    "req",
    ...ec,
    "-keyout",
    "leaf.key",
    "-out",
    "leaf.csr",
    "-subj",
    "/CN=localhost",
  );
  await Deno.writeTextFile(
    `${dir}/ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
  );
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "leaf.pem",
    "-days",
    "2",
    "-extfile",
    "ext",
  );
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
  const out = {
    ca: await read("ca.pem"),
    cert: await read("leaf.pem"),
    key: await read("leaf.key"),
  };
  await Deno.remove(dir, { recursive: true });
  return out;
}

/** Why tests needing https cannot run here, or undefined when openssl is available. */
export async function fakeHullSkipReason(): Promise<string | undefined> {
  try {
    await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output();
    return undefined;
  } catch {
    if (Deno.env.get("CI") === "true") throw new Error("openssl is required under CI=true");
    console.warn("SKIPPED: openssl is not installed, so no test certificate can be made");
    return "openssl missing";
  }
}

/**
 * `total` bytes (Infinity: endless) of `{"id":"big","pad":"xxxx…`, in fresh 64 KB chunks
 * made on demand, so the sender holds one chunk at a time whatever the total.
 */
function endlessJson(
  total: number,
  count: { bytes: number; cancelled: number },
): ReadableStream<Uint8Array> {
  const CHUNK = 64 * 1024;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(CHUNK, total - sent);
      const chunk = new Uint8Array(n).fill(0x78); // "x"
      if (sent === 0) chunk.set(new TextEncoder().encode('{"id":"big","pad":"'));
      sent += n;
      count.bytes += n;
      controller.enqueue(chunk);
    },
    cancel() {
      count.cancelled++;
    },
  }, { highWaterMark: 0 });
}

/** Starts the fake Hull on 127.0.0.1:0. */
export async function startFakeHull(secret = "connector-secret-0123456789"): Promise<FakeHull> {
  const { ca, cert, key } = await makeCertificates();
  const signing = await generateKeyPair("RS256", { extractable: true });
  const pem = await exportSPKI(signing.publicKey);
  const hull: Partial<FakeHull> = {
    hits: new Map(),
    api: [],
    statuses: [],
    reports: () => undefined,
    secret,
    streamed: { bytes: 0, cancelled: 0 },
    publicKeyPem: pem,
    pages: new Map(),
  };
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", cert, key, onListen() {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      hull.hits!.set(path, (hull.hits!.get(path) ?? 0) + 1);
      const page = hull.pages!.get(path);
      if (page) {
        await page.answerAfter?.catch(() => {});
        return servePage(page);
      }
      if (path.startsWith("/key")) {
        if (path === "/key-redirect") {
          return new Response(null, { status: 302, headers: { location: "/key" } });
        }
        return new Response(pem, { headers: { "content-type": "text/plain" } });
      }
      const statusPath = /^\/api\/v1\/([^/]+)\/status$/.exec(path);
      if (statusPath && req.method === "PUT") {
        // The connector's own calls carry its secret as the access token (hull-client's way).
        const token = req.headers.get("hull-access-token") ?? "";
        if (token !== hull.secret || req.headers.get("hull-app-id") !== statusPath[1]) {
          return Response.json({ message: "invalid token" }, { status: 401 });
        }
        const body = await req.json();
        hull.statuses!.push({ id: statusPath[1], body, headers: new Headers(req.headers) });
        return Response.json(body);
      }
      if (path === "/api/v1/me/user_report" && req.method === "GET") {
        let token: Record<string, unknown>;
        try {
          const jwt = req.headers.get("hull-access-token") ?? "";
          token = (await jwtVerify(jwt, new TextEncoder().encode(hull.secret!))).payload;
        } catch {
          return Response.json({ message: "invalid token" }, { status: 401 });
        }
        // Hull reads a user report for a connector only with the admin scope.
        const scopes = token.scopes;
        if (!Array.isArray(scopes) || !scopes.includes("admin")) {
          return Response.json({ message: "scope admin required" }, { status: 403 });
        }
        const claims = (token["io.hull.asUser"] ?? {}) as Record<string, unknown>;
        hull.api!.push({ claims, token, headers: new Headers(req.headers), at: Date.now() });
        const report = hull.reports!(claims) ?? { status: 404 };
        if (report.answerAfter) await report.answerAfter.catch(() => {});
        if ("streamBytes" in report) {
          return new Response(endlessJson(report.streamBytes, hull.streamed!), {
            headers: { "content-type": "application/json" },
          });
        }
        return "body" in report
          ? Response.json(report.body)
          : Response.json({ message: "not found" }, { status: report.status });
      }
      return new Response("not found", { status: 404 });
    },
  );
  const port = server.addr.port;
  Object.assign(hull, {
    url: `https://localhost:${port}`,
    port,
    caCert: ca,
    async sign(
      body: { notification_id: string },
      keyUrl = `https://localhost:${port}/key`,
      claims: TokenClaims = {},
    ) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setJti(body.notification_id);
      const iat = claims.iat === undefined ? now : claims.iat;
      const exp = claims.exp === undefined ? now + 300 : claims.exp;
      if (iat !== null) jwt.setIssuedAt(iat);
      if (exp !== null) jwt.setExpirationTime(exp);
      const token = await jwt.sign(signing.privateKey);
      return {
        "x-hull-smart-notifier": "true",
        "x-hull-smart-notifier-signature": token,
        "x-hull-smart-notifier-signature-version": "v1",
        "x-hull-smart-notifier-signature-public-key-url": keyUrl,
      };
    },
    close: () => server.shutdown(),
  });
  return hull as FakeHull;
}

/** A page's answer; a trickled one stops when the client goes away. */
function servePage(page: Page): Response {
  const headers = { "content-type": page.type };
  if (!page.trickleMs) return new Response(page.body, { headers });
  const bytes = new TextEncoder().encode(page.body);
  let timer: ReturnType<typeof setInterval> | undefined;
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => {
        try {
          if (i >= bytes.length) {
            clearInterval(timer);
            return controller.close();
          }
          controller.enqueue(bytes.slice(i, ++i));
        } catch {
          clearInterval(timer); // the client went away
        }
      }, page.trickleMs);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(stream, { headers });
}

/** Posts `body` to the connector's smart-notifier, signed the way Hull signs it. */
export async function postSigned(
  connectorUrl: string,
  hull: FakeHull,
  body: { notification_id: string },
  keyUrl?: string,
  extra: Record<string, string> = {},
  claims?: TokenClaims,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${connectorUrl}/smart-notifier`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(await hull.sign(body, keyUrl, claims)),
      ...extra,
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
