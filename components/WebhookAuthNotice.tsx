import { Notice } from "./Notice.tsx";
import type { WebhookAuthState } from "../lib/webhook/auth_state.ts";

/** Which webhooks this server can authenticate, in a notice that is green only when all can. */
export function WebhookAuthNotice(props: { auth: WebhookAuthState }) {
  const { hmac, hullPinned, hullFetched } = props.auth;
  const hull = hullPinned
    ? "Hull's RS256 signature (pinned HULL_PUBLIC_KEY)"
    : hullFetched
    ? "Hull's RS256 signature (key fetched from HULL_KEY_HOSTS)"
    : "";
  if (hmac) {
    return (
      <Notice kind="ok">
        Webhooks are authenticated with X-Hull-Browser-Signature (WEBHOOK_SECRET)
        {hull && ` and ${hull}`}.
      </Notice>
    );
  }
  return (
    <Notice kind="warn">
      <code>WEBHOOK_SECRET</code> is not set: signed webhooks from your own sender (
      <code>X-Hull-Browser-Signature: t=…,v1=…</code>, HMAC-SHA256 of{" "}
      <code>"&lt;t&gt;.&lt;body&gt;"</code>) are refused.{" "}
      {hull ? `Only Hull's own notifications are accepted, checked with ${hull}.` : (
        <>
          No other authentication is configured either, so every webhook is refused: set{" "}
          <code>WEBHOOK_SECRET</code> or <code>HULL_PUBLIC_KEY</code>.
        </>
      )}
    </Notice>
  );
}
