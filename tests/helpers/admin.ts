/** Test helper: a dashboard session, logged in with the password the server was started with. */
import assert from "node:assert/strict";

/** Logs in at `url`; resolves with the session cookie (`name=value`) and its CSRF token. */
export async function adminLogin(
  url: string,
  password: string,
): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${url}/admin/login`, {
    method: "POST",
    body: new URLSearchParams({ password }),
    redirect: "manual",
  });
  await res.body?.cancel();
  assert.equal(res.status, 303, "logged in");
  const cookie = res.headers.get("set-cookie")!.split(";")[0];
  const session = await fetch(`${url}/admin/api/session`, { headers: { cookie } });
  return { cookie, csrf: (await session.json()).csrf };
}
