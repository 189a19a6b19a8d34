/**
 * The dashboard's logic (its pages are routes/admin/, its widgets islands/ and components/):
 * sessions, CSRF and the login delay (auth.ts), the guard every /admin request passes
 * (guard.ts), cluster-wide stats and rooms (cluster.ts), the live-log feed (log_feed.ts) and
 * the page shell (page.tsx).
 *
 * May import: any part (it shows them all) and the leaves. No part imports the dashboard.
 */
export { AdminAuth, type Session } from "./auth.ts";
export { adminGuard } from "./guard.ts";
export { LogFeed } from "./log_feed.ts";
export { clusterStats, listRooms } from "./cluster.ts";
