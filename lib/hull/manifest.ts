/**
 * The Hull connector manifest (docs/contracts.md §3), served at `GET /manifest.json`: what Hull
 * reads when a customer installs the connector by its URL: name, pictures, readme, the installation
 * tab, the smart-notifier subscription, and the settings form (Hull's field formats, as in Hull's
 * own connectors: `segment`, `accountSegment`, `trait`, `table`, `select`).
 *
 * The private settings have no `default`s on purpose: Hull stores a manifest's defaults on
 * install and sends them with every notification, and each key sent becomes the live setting,
 * so defaults would wipe a whitelist or identity mode configured before the install. A key
 * the customer never edited in Hull is not sent, and keeps its value here.
 */
import { IDENTITY_MODES } from "../types.ts";

/** Version of the connector, as Hull shows it. */
export const CONNECTOR_VERSION = "1.0.0";

/** `synchronized_segments` option meaning "every user" (Hull's convention). */
export const ALL_USERS = "ALL";

const list = (name: string, title: string, description: string, format: string) => ({
  name,
  title,
  description,
  type: "array",
  format,
  items: { type: "string" },
});

/** The manifest document. */
export function connectorManifest(): Record<string, unknown> {
  return {
    name: "Browser Personalization",
    description:
      "Push whitelisted attributes and segments of Hull profiles into your visitors' browsers " +
      "in real time, to personalize pages",
    version: CONNECTOR_VERSION,
    // Hull.js loads this on its pages and the snippet boots through `Hull.onEmbed`, as the
    // original's did: Hull.js customers need no script tag.
    index: "ship.js",
    tags: ["smart-notifier", "incoming", "outgoing", "oneColumn"],
    picture: "picture.png",
    logo: "logo.png",
    readme: "readme.md",
    ui: false,
    tabs: [{ title: "Installation", url: "/install", size: "small", editable: false }],
    // Where the original had it (public `settings`), so an installation keeps its code. It
    // runs only on pages whose tag has `data-allow-script` (docs/snippet.md).
    settings: [
      {
        name: "script",
        title: "Code to be run every time user is updated",
        description: "Runs with (user, segments, account, account_segments, events, changes), " +
          "only on pages whose tag has data-allow-script. Without it, use data-hull-* attributes",
        type: "string",
        format: "code",
      },
    ],
    private_settings: [
      list(
        "whitelisted_domains",
        "Whitelisted domains",
        "Pages on these domains may connect: example.com, *.example.com (subdomains), " +
          "localhost:3000. No domain: every page is refused",
        "table",
      ),
      {
        ...list(
          "synchronized_segments",
          "User filter",
          "Only users in one of these segments are sent to browsers; none (or All Users): everyone",
          "segment",
        ),
        options: { standard: { [ALL_USERS]: "All Users" } },
      },
      list(
        "public_traits",
        "Public attributes",
        "Attributes sent to the page (the user id always is). Everything else stays on the server",
        "trait",
      ),
      list(
        "public_segments",
        "Public user segments",
        "Names of these user segments are sent to the page",
        "segment",
      ),
      list(
        "public_account_segments",
        "Public account segments",
        "Names of these account segments are sent to the page",
        "accountSegment",
      ),
      {
        name: "identity_mode",
        title: "Identity verification",
        description: "off: trust what the browser claims; report: serve and log unverified " +
          "claims; required: ignore unverified emails and ids (needs IDENTITY_SECRET on the server)",
        type: "string",
        format: "select",
        enum: [...IDENTITY_MODES],
        enumNames: ["Off", "Report", "Required"],
      },
      list(
        "anonymous_traits",
        "Anonymous-safe attributes",
        "With identity verification required: all that anonymous or unverified visitors receive",
        "trait",
      ),
      list(
        "anonymous_segments",
        "Anonymous-safe user segments",
        "Segment names anonymous or unverified visitors receive",
        "segment",
      ),
      list(
        "anonymous_account_segments",
        "Anonymous-safe account segments",
        "Account segment names anonymous or unverified visitors receive",
        "accountSegment",
      ),
    ],
    settings_sections: [
      {
        title: "Domains and users",
        properties: [
          "private_settings.whitelisted_domains",
          "private_settings.synchronized_segments",
        ],
      },
      {
        title: "What pages receive",
        properties: [
          "private_settings.public_traits",
          "private_settings.public_segments",
          "private_settings.public_account_segments",
        ],
      },
      {
        title: "Verified identities",
        properties: [
          "private_settings.identity_mode",
          "private_settings.anonymous_traits",
          "private_settings.anonymous_segments",
          "private_settings.anonymous_account_segments",
        ],
      },
    ],
    resources: [],
    subscriptions: [{ url: "/smart-notifier" }],
    // Hull's cron asks /status every 30 minutes (as its own connectors declare it).
    schedules: [{ url: "/status", type: "interval", value: "30" }],
  };
}
