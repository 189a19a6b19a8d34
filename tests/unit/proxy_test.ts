import assert from "node:assert/strict";
import {
  clientAddress,
  NO_PROXY,
  parseTrustProxy,
  publicOrigin,
  validHost,
} from "../../lib/proxy.ts";
import { parseBoolean } from "../../lib/config_checks.ts";

const ONE = parseTrustProxy("true");

Deno.test("proxy - without TRUST_PROXY the client is the peer, whatever X-Forwarded-For says", () => {
  assert.equal(clientAddress(NO_PROXY, "10.0.0.1", "1.2.3.4"), "10.0.0.1");
  assert.equal(clientAddress(NO_PROXY, "::ffff:10.0.0.1", null), "::ffff:10.0.0.1");
  assert.equal(clientAddress(ONE, undefined, "1.2.3.4"), "unknown", "no peer: nothing trusted");
});

Deno.test("proxy - one trusted proxy: the entry it appended (right-most), never the first", () => {
  // The client wrote "6.6.6.6"; the proxy appended the address it saw.
  assert.equal(clientAddress(ONE, "10.0.0.1", "6.6.6.6, 203.0.113.9"), "203.0.113.9");
  assert.equal(clientAddress(ONE, "10.0.0.1", "203.0.113.9"), "203.0.113.9");
  assert.equal(clientAddress(ONE, "10.0.0.1", "[2001:db8::1]:443"), "2001:db8::1");
  assert.equal(clientAddress(ONE, "10.0.0.1", "203.0.113.9:5123"), "203.0.113.9");
  assert.equal(clientAddress(ONE, "10.0.0.1", ""), "10.0.0.1", "no header: the peer");
});

Deno.test("proxy - a hop count skips that many proxies from the right", () => {
  const two = parseTrustProxy("2");
  assert.equal(clientAddress(two, "10.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2"), "203.0.113.9");
  assert.equal(clientAddress(two, "10.0.0.1", "10.0.0.2"), "10.0.0.2", "shorter chain");
});

Deno.test("proxy - a proxy list reads the headers only from those proxies", () => {
  const list = parseTrustProxy("10.0.0.0/8,2001:db8::/32");
  assert.equal(clientAddress(list, "10.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2"), "203.0.113.9");
  assert.equal(clientAddress(list, "::ffff:10.0.0.1", "203.0.113.9"), "203.0.113.9");
  assert.equal(clientAddress(list, "2001:db8::5", "203.0.113.9"), "203.0.113.9");
  assert.equal(clientAddress(list, "198.51.100.1", "203.0.113.9"), "198.51.100.1", "direct");
  assert.equal(clientAddress(list, "10.0.0.1", "10.0.0.3, 10.0.0.2"), "10.0.0.3");
});

Deno.test("proxy - forwarded host and scheme only from a trusted proxy, only plain hosts", () => {
  const req = (peer: string, headers: Record<string, string>) => ({
    peer,
    header: (name: string) => headers[name],
    url: "http://internal:8000/readme.md",
  });
  const fwd = {
    host: "internal:8000",
    "x-forwarded-host": "evil.test",
    "x-forwarded-proto": "https",
  };
  assert.equal(publicOrigin(NO_PROXY, req("10.0.0.1", fwd)), "http://internal:8000");
  assert.equal(publicOrigin(ONE, req("10.0.0.1", fwd)), "https://evil.test");
  const list = parseTrustProxy("10.0.0.0/8");
  assert.equal(publicOrigin(list, req("198.51.100.1", fwd)), "http://internal:8000");
  const hostile = {
    host: "a.test",
    "x-forwarded-host": "x.test`<img src=x>",
    "x-forwarded-proto": "javascript",
  };
  assert.equal(publicOrigin(ONE, req("10.0.0.1", hostile)), "http://a.test");
  assert.equal(publicOrigin(NO_PROXY, req("10.0.0.1", { host: 'a"b' })), "http://localhost");
  assert.equal(validHost("Shop.Example.com:8443"), "shop.example.com:8443");
  assert.equal(validHost("[::1]:80"), "[::1]:80");
  for (const bad of ["a b", "a/b", "a`b", "<x>", "a.test:1:2", "", "x".repeat(300)]) {
    assert.equal(validHost(bad), null, bad);
  }
});

Deno.test("proxy - parseBoolean takes the usual spellings and refuses the rest", () => {
  assert.equal(parseBoolean(undefined, true), true);
  assert.equal(parseBoolean(" Yes ", false), true);
  assert.equal(parseBoolean("0", true), false);
  assert.equal(parseBoolean("y", true), null);
});

Deno.test("proxy - on Deno Deploy (https only) the origin is https whatever the request says", () => {
  const deploy = { ...NO_PROXY, httpsOnly: true };
  const req = {
    peer: "10.0.0.1",
    header: (n: string) => n === "host" ? "app.deno.dev" : null,
    url: "http://app.deno.dev/",
  };
  assert.equal(publicOrigin(deploy, req), "https://app.deno.dev");
});
