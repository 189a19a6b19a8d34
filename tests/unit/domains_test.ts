import assert from "node:assert/strict";
import {
  type DomainPattern,
  originAllowed,
  parseDomainList,
  parseDomainPattern,
} from "../../lib/domains.ts";

function allowed(origin: string | null | undefined, ...entries: string[]): boolean {
  return originAllowed(origin, entries.map(parseDomainPattern));
}

Deno.test("parseDomainPattern - plain, wildcard, localhost and IP entries", () => {
  assert.deepEqual(parseDomainPattern("example.com"), {
    raw: "example.com",
    host: "example.com",
    wildcard: false,
  });
  assert.deepEqual(parseDomainPattern("*.example.com"), {
    raw: "*.example.com",
    host: "example.com",
    wildcard: true,
  });
  assert.equal(parseDomainPattern("localhost").host, "localhost");
  assert.equal(parseDomainPattern("127.0.0.1").host, "127.0.0.1");
  assert.equal(parseDomainPattern("[::1]").host, "[::1]");
  assert.equal(parseDomainPattern("::1").host, "[::1]");
  assert.deepEqual(parseDomainPattern("[::1]:3000"), {
    raw: "[::1]:3000",
    host: "[::1]",
    wildcard: false,
    port: "3000",
  });
});

Deno.test("parseDomainPattern - normalizes case, trailing dot, IDN and pasted URLs", () => {
  assert.equal(parseDomainPattern("  WWW.Example.COM  ").host, "www.example.com");
  assert.equal(parseDomainPattern("  WWW.Example.COM  ").raw, "WWW.Example.COM");
  assert.equal(parseDomainPattern("example.com.").host, "example.com");
  assert.equal(parseDomainPattern("bücher.de").host, "xn--bcher-kva.de");
  assert.equal(parseDomainPattern("*.BÜCHER.de").host, "xn--bcher-kva.de");
  const pasted = parseDomainPattern("https://Example.com/");
  assert.equal(pasted.host, "example.com");
  assert.equal(pasted.port, undefined);
  assert.equal(parseDomainPattern("http://example.com:8080").port, "8080");
  assert.equal(parseDomainPattern("example.com/").host, "example.com");
  assert.equal(parseDomainPattern("example.com:08080").port, "8080");
});

Deno.test("parseDomainPattern - malformed entries throw an error naming the entry", () => {
  const bad = [
    "",
    "*",
    "*.",
    "*.com",
    "*.localhost",
    "*example.com",
    "ex*ample.com",
    "a.*.example.com",
    "*.*.example.com",
    "exa mple.com",
    "a..example.com",
    ".example.com",
    "example.com..",
    "https://example.com/path",
    "example.com/path",
    "example.com?x=1",
    "example.com#top",
    "user@example.com",
    "ftp://example.com",
    "example.com:",
    "example.com:0",
    "example.com:65536",
    "example.com:http",
    "exa%6dple.com",
    "exam!ple.com",
    "*.127.0.0.1",
    "[::1",
    "[::1]x",
    "a".repeat(64) + ".com",
  ];
  for (const entry of bad) {
    assert.throws(
      () => parseDomainPattern(entry),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.ok(err.message.includes(JSON.stringify(entry.trim())), err.message);
        return true;
      },
      `accepted ${JSON.stringify(entry)}`,
    );
  }
});

Deno.test("parseDomainList - splits, trims and skips empty entries", () => {
  const list = parseDomainList(" example.com, *.example.org ,, localhost:3000 ,");
  assert.deepEqual(
    list.map((p: DomainPattern) => [p.host, p.wildcard, p.port]),
    [["example.com", false, undefined], ["example.org", true, undefined], [
      "localhost",
      false,
      "3000",
    ]],
  );
  assert.deepEqual(parseDomainList(""), []);
  assert.deepEqual(parseDomainList(" , "), []);
});

Deno.test("parseDomainList - throws naming the bad entry", () => {
  assert.throws(() => parseDomainList("example.com, *bad.com, ok.org"), /"\*bad\.com"/);
  assert.throws(() => parseDomainPattern("ex*ample.com"), /wildcard/);
});

Deno.test("originAllowed - exact pattern matches that host only, any port", () => {
  assert.equal(allowed("https://example.com", "example.com"), true);
  assert.equal(allowed("http://example.com:8080", "example.com"), true);
  assert.equal(allowed("https://www.example.com", "example.com"), false);
  assert.equal(allowed("https://example.org", "example.com"), false);
});

Deno.test("originAllowed - wildcard matches subdomains at any depth, not the base", () => {
  assert.equal(allowed("https://a.example.com", "*.example.com"), true);
  assert.equal(allowed("https://a.b.example.com", "*.example.com"), true);
  assert.equal(allowed("https://example.com", "*.example.com"), false);
  assert.equal(allowed("https://example.com", "*.example.com", "example.com"), true);
});

Deno.test("originAllowed - suffix tricks never match", () => {
  for (const pattern of ["example.com", "*.example.com"]) {
    assert.equal(allowed("https://example.com.evil.net", pattern), false, pattern);
    assert.equal(allowed("https://evilexample.com", pattern), false, pattern);
    assert.equal(allowed("https://a.evilexample.com", pattern), false, pattern);
    assert.equal(allowed("https://example.com@evil.net", pattern), false, pattern);
    assert.equal(allowed("https://www.example.com@evil.net", pattern), false, pattern);
    assert.equal(allowed("https://evil.net#.example.com", pattern), false, pattern);
    assert.equal(allowed("https://evil.net/.example.com", pattern), false, pattern);
    assert.equal(allowed("https://evil.net?.example.com", pattern), false, pattern);
    assert.equal(allowed("https://example.com%2eevil.net", pattern), false, pattern);
  }
});

Deno.test("originAllowed - pattern port restricts to that port, default ports filled in", () => {
  assert.equal(allowed("https://example.com:8443", "example.com:8443"), true);
  assert.equal(allowed("https://example.com", "example.com:8443"), false);
  assert.equal(allowed("https://example.com:9443", "example.com:8443"), false);
  assert.equal(allowed("https://example.com", "example.com:443"), true);
  assert.equal(allowed("https://example.com:443", "example.com:443"), true);
  assert.equal(allowed("http://example.com", "example.com:443"), false);
  assert.equal(allowed("http://example.com", "example.com:80"), true);
  assert.equal(allowed("http://localhost:3000", "localhost:3000"), true);
  assert.equal(allowed("http://localhost:3001", "localhost:3000"), false);
  assert.equal(allowed("https://a.example.com:8443", "*.example.com:8443"), true);
  assert.equal(allowed("https://a.example.com", "*.example.com:8443"), false);
  assert.equal(allowed("http://[::1]:3000", "[::1]:3000"), true);
});

Deno.test("originAllowed - case, IDN and trailing dots compare normalized", () => {
  assert.equal(allowed("https://WWW.EXAMPLE.COM", "www.example.com"), true);
  assert.equal(allowed("https://www.example.com", "WWW.Example.Com"), true);
  assert.equal(allowed("https://bücher.de", "xn--bcher-kva.de"), true);
  assert.equal(allowed("https://xn--bcher-kva.de", "bücher.de"), true);
  assert.equal(allowed("https://shop.xn--bcher-kva.de", "*.bücher.de"), true);
  assert.equal(allowed("https://example.com.", "example.com"), true);
  assert.equal(allowed("https://example.com", "example.com."), true);
  assert.equal(allowed("https://a.example.com.:443", "*.example.com:443"), true);
});

Deno.test("originAllowed - missing, null, opaque and malformed origins are refused", () => {
  for (const origin of [undefined, null, "", "null", "not a url", "example.com", "file:///x"]) {
    assert.equal(allowed(origin, "example.com", "*.example.com"), false, String(origin));
  }
  assert.equal(allowed("chrome-extension://example.com", "example.com"), false);
  assert.equal(allowed("https://example.com/some/path", "example.com"), false);
  assert.equal(allowed("https://user:pw@example.com", "example.com"), false);
});

Deno.test("originAllowed - an empty whitelist allows nothing", () => {
  assert.equal(originAllowed("https://example.com", []), false);
});

Deno.test("originAllowed - IP literals match exactly", () => {
  assert.equal(allowed("http://127.0.0.1:8000", "127.0.0.1"), true);
  assert.equal(allowed("http://127.0.0.2:8000", "127.0.0.1"), false);
  assert.equal(allowed("http://[::1]:8000", "::1"), true);
});
