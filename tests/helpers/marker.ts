/**
 * Test helper: marker updates. To show that something did NOT arrive, a test sends a later
 * update on the same ordered channel (one user's pushes to one socket), waits for it, and only
 * then asserts: anything the earlier step caused would have arrived before the marker.
 */
import { freshFixture } from "./server.ts";

/** A fresh `user:update` notification for Ada (the user-update fixture) with `traits` merged in. */
export async function adaWith(traits: Record<string, unknown>): Promise<Record<string, unknown>> {
  const body = await freshFixture("user-update.json");
  const [message] = body.messages as { user: Record<string, unknown> }[];
  return { ...body, messages: [{ ...message, user: { ...message.user, ...traits } }] };
}
