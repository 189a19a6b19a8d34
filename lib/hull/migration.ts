/**
 * From the previous release's single binding to a connector of its own: that release kept the
 * one Hull connector it served in the root store ("hull_connector", the standalone connector's
 * keys). At boot, that connector is registered (whatever HULL_MAX_CONNECTORS says: it was
 * served already), its credentials move into its scope as they are (the secret's JWE is bound
 * to the id and organization, and its key derives from SECRET alone, so it reads the same
 * there), the root's settings and whitelist are copied into its scope when the scope has none,
 * and so is the record of settings Hull manages. Profiles are not copied: they return with
 * Hull's next update or a profile fetch. Safe to run again at any point (each step checks).
 */
import { HULL_CONNECTOR_ID } from "../connector/directory.ts";
import type { Store } from "../store/store.ts";

/** The store keys (META names) of the single binding and what moves with it. */
const CREDENTIALS = "hull_connector";
const MANAGED = "hull_managed";

/** Registration without a cap: the migrated connector was served before any limit. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Moves the single binding of `root` (the root store) into its connector's scope; returns the
 * connector's id, or null when there was nothing to move. Throws when the store fails (the
 * next boot carries on where it stopped).
 */
export async function migrateSingleBinding(root: Store): Promise<string | null> {
  const doc = await root.getMeta<{ id?: unknown }>(CREDENTIALS);
  if (!doc || typeof doc.id !== "string") return null;
  const id = doc.id;
  if (!HULL_CONNECTOR_ID.test(id)) {
    console.warn(
      `the stored Hull connector ${JSON.stringify(id.slice(0, 60))} is not a Hull connector id: ` +
        "left where it is, not migrated",
    );
    return null;
  }
  await root.registerConnector(id, NO_LIMIT);
  const scope = root.scoped(id);
  try {
    if (!(await scope.getMeta(CREDENTIALS))) await scope.setMeta(CREDENTIALS, doc);
    // Written only when the scope holds neither (one atomic check): never over its own.
    await scope.seedIfEmpty(await root.getConfig());
    const managed = await root.getMeta(MANAGED);
    if (managed && !(await scope.getMeta(MANAGED))) await scope.setMeta(MANAGED, managed);
  } finally {
    await scope.close();
  }
  // Last, so that an interrupted move is taken up again at the next boot.
  await root.setMeta(CREDENTIALS, null);
  console.warn(
    `migrated the Hull connector ${id} of the previous release into a connector of its own ` +
      "(settings and credentials; profiles return with Hull's next updates)",
  );
  return id;
}
