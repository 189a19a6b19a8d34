/**
 * What a client on the admin's address, or behind the same proxy, can and cannot do over real
 * HTTP: it cannot lock the admin out of the login (device cookies), cannot pick its own
 * address through `X-Forwarded-For` (login throttle, handshake limit), and cannot make a page
 * or the readme name a host of its choosing. The throttle's clock is the test's: no sleeps.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const PASSWORD = "correct horse battery staple";
const ORIGIN = "http://localhost:3000";

/** A browser's cookie jar for the login: what Set-Cookie last said, per cookie name. */
class Browser {
  #cookies = new Map<string, string>();

  constructor(readonly t: TestServer) {}

  get cookie(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  has(name: string): boolean {
    return this.#cookies.has(name);
  }

  /** Sets a cookie by hand (a forged or copied one). */
  set(name: string, value: string): void {
    this.#cookies.set(name, value);
  }

  /** POSTs the login form; resolves to the status (303 signed in, 401 wrong, 429 throttled). */
  async login(password: string, headers: Record<string, string> = {}): Promise<number> {
    const res = await fetch(`${this.t.url}/admin/login`, {
      method: "POST",
      body: new URLSearchParams({ password }),
      redirect: "manual",
      headers: { ...(this.#cookies.size ? { cookie: this.cookie } : {}), ...headers },
    });
    await res.body?.cancel();
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair.indexOf("=");
      this.#cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return res.status;
  }
}

function withAdmin(clock: () => number, env: Record<string, string> = {}) {
  return startTestServer({
    env: { ADMIN_PASSWORD: PASSWORD, ...env },
    start: { loginClock: clock },
  });
}

Deno.test({
  name: "admin login - a guesser on the admin's IP cannot lock out a browser that signed in before",
  ...opts,
  async fn() {
    let now = Date.now();
    const t = await withAdmin(() => now);
    try {
      const admin = new Browser(t);
      assert.equal(await admin.login(PASSWORD), 303);
      // The attack run's pattern: a wrong password every 200 ms from the same address, the
      // admin trying in between. Same IP (127.0.0.1) for both.
      const attacker = new Browser(t);
      const attackerStatus: number[] = [];
      const adminStatus: number[] = [];
      for (let i = 0; i < 23; i++) {
        for (let j = 0; j < 5; j++) {
          attackerStatus.push(await attacker.login("wrong guess"));
          now += 200;
        }
        adminStatus.push(await admin.login(PASSWORD));
      }
      assert.ok(attackerStatus.includes(429), "the guesser is throttled");
      // 5 free failures, then one each after waits of 1, 2, 4 and 8 s.
      assert.ok(attackerStatus.filter((s) => s === 401).length <= 10, String(attackerStatus));
      assert.deepEqual(adminStatus, Array(23).fill(303), "the admin signs in every time");
      assert.ok(admin.has("hb_device"), "thanks to the device cookie of its first login");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name:
    "admin login - a device cookie that fails too often is delayed; a forged one counts as no cookie",
  ...opts,
  async fn() {
    let now = Date.now();
    const t = await withAdmin(() => now);
    try {
      const admin = new Browser(t);
      assert.equal(await admin.login(PASSWORD), 303);
      for (let i = 0; i < 5; i++) assert.equal(await admin.login("typo"), 401);
      assert.equal(await admin.login(PASSWORD), 429, "the device's own budget is spent");
      // The address's budget is another one: a new browser on the same IP is not delayed.
      const other = new Browser(t);
      assert.equal(await other.login("typo"), 401);
      now += 1_000;
      assert.equal(await admin.login(PASSWORD), 303, "after the wait the device signs in");

      // A forged device cookie is an untrusted client: charged to the IP.
      const forger = new Browser(t);
      forger.set("hb_device", `${"a".repeat(32)}.${"b".repeat(64)}`);
      for (let i = 0; i < 4; i++) assert.equal(await forger.login("guess"), 401);
      assert.equal(await forger.login("guess"), 429, "the IP's budget (1 + 4 failures) is spent");
      assert.equal(await other.login(PASSWORD), 429, "a browser without a device waits too");
      assert.equal(await admin.login(PASSWORD), 303, "the admin's device does not");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "TRUST_PROXY - the login throttle takes the address the proxy appended, not the first",
  ...opts,
  async fn() {
    const now = Date.now();
    const t = await withAdmin(() => now, { TRUST_PROXY: "true" });
    try {
      // Behind one proxy: the client wrote the first entry, the proxy appended 203.0.113.7.
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        statuses.push(
          await new Browser(t).login("guess", {
            "x-forwarded-for": `198.51.100.${i}, 203.0.113.7`,
          }),
        );
      }
      assert.equal(statuses.filter((s) => s === 401).length, 5, "5 free failures, then waits");
      assert.equal(statuses.filter((s) => s === 429).length, 35);
      // Another client behind the proxy has its own budget.
      assert.equal(
        await new Browser(t).login("guess", { "x-forwarded-for": "203.0.113.8" }),
        401,
      );
    } finally {
      await t.close();
    }
    // A list of proxies: a client reaching the server directly (127.0.0.1 is not in it) is
    // its own address, whatever it writes.
    const direct = await withAdmin(() => now, { TRUST_PROXY: "10.0.0.0/8" });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        statuses.push(
          await new Browser(direct).login("guess", { "x-forwarded-for": `198.51.100.${i}` }),
        );
      }
      assert.deepEqual(statuses, [...Array(5).fill(401), ...Array(5).fill(429)]);
    } finally {
      await direct.close();
    }
  },
});

Deno.test({
  name: "TRUST_PROXY - handshakes count against the address the proxy appended",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { TRUST_PROXY: "true" } });
    try {
      let accepted = 0;
      for (let i = 0; i < 300; i++) {
        const res = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling`, {
          headers: { origin: ORIGIN, "x-forwarded-for": `198.51.100.${i % 250}, 203.0.113.7` },
        });
        await res.body?.cancel();
        if (res.status === 200) accepted++;
      }
      assert.equal(accepted, 120, "the 120-a-minute limit holds");
      const other = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling`, {
        headers: { origin: ORIGIN, "x-forwarded-for": "203.0.113.8" },
      });
      await other.body?.cancel();
      assert.equal(other.status, 200, "another client behind the proxy is not limited");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "forwarded host - read only with TRUST_PROXY, never echoed unless a plain host, not cached",
  ...opts,
  async fn() {
    const t = await withAdmin(Date.now);
    const host = new URL(t.url).host;
    try {
      const spoof = { "x-forwarded-host": "evil.test", "x-forwarded-proto": "https" };
      for (const path of ["/readme.md", "/", "/install"]) {
        const res = await fetch(`${t.url}${path}`, { headers: spoof });
        const text = await res.text();
        assert.equal(res.status, 200, path);
        assert.ok(!text.includes("evil.test"), `${path} ignores X-Forwarded-Host`);
        assert.equal(res.headers.get("cache-control"), "no-store", path);
        assert.ok(text.includes(`http://${host}/hull-browser.js`), `${path} names the Host`);
      }
      // The same-origin check of admin writes does not take the header's word either.
      const res = await new Browser(t).login("guess", {
        origin: "http://evil.test",
        "x-forwarded-host": "evil.test",
      });
      assert.equal(res, 403);
      // Without TRUST_PROXY the session cookie is not Secure because a header says https.
      const login = await fetch(`${t.url}/admin/login`, {
        method: "POST",
        body: new URLSearchParams({ password: PASSWORD }),
        redirect: "manual",
        headers: { "x-forwarded-proto": "https" },
      });
      await login.body?.cancel();
      assert.ok(login.headers.getSetCookie().every((c) => !/;\s*Secure/i.test(c)));
    } finally {
      await t.close();
    }
    const proxied = await startTestServer({ env: { TRUST_PROXY: "true" } });
    try {
      const ok = await fetch(`${proxied.url}/readme.md`, {
        headers: { "x-forwarded-host": "shop.example.com", "x-forwarded-proto": "https" },
      });
      assert.match(await ok.text(), /src="https:\/\/shop\.example\.com\/hull-browser\.js"/);
      const hostile = await fetch(`${proxied.url}/readme.md`, {
        headers: { "x-forwarded-host": "x.test`<img src=x onerror=alert(1)>" },
      });
      const text = await hostile.text();
      assert.ok(!text.includes("<img"), "a host that is not plain is never printed");
      assert.ok(text.includes(`http://${new URL(proxied.url).host}/hull-browser.js`));
    } finally {
      await proxied.close();
    }
  },
});
