// The console's frame: sign-in, the signed-in key's role, and the tabs.
import { $, api, auth, toast } from "/console/api.js";
import { Inbox } from "/console/inbox.js";
import { Knowledge } from "/console/knowledge.js";
import { Analytics, Gaps } from "/console/insights.js";

const RANK = { viewer: 1, editor: 2, admin: 3 };
const tabs = [...document.querySelectorAll('[role="tab"]')];
let views = null;

async function signIn(key) {
  auth.save(key);
  try {
    const me = await api("/admin/me");
    start(me);
  } catch (error) {
    auth.clear();
    showSignIn(error.status === 401 ? "That key is not valid (or was revoked)." : error.message);
  }
}

function showSignIn(message = "") {
  views?.inbox.stop();
  views = null;
  $("app").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("key").value = "";
  $("key").focus();
  document.title = "Helpdesk console";
}

function start(me) {
  const rank = RANK[me.role] || 0;
  document.body.dataset.role = me.role;
  $("who-name").textContent = `${me.name} (${me.role})`;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("app").hidden = false;
  for (const control of document.querySelectorAll("[data-needs]")) {
    const allowed = rank >= RANK[control.dataset.needs];
    control.disabled = !allowed;
    if (!allowed) control.title = `Needs an ${control.dataset.needs} key`;
  }
  $("notify").hidden = !("Notification" in window) || Notification.permission !== "default";
  views = {
    inbox: new Inbox(rank >= RANK.admin),
    knowledge: new Knowledge(rank >= RANK.editor),
    analytics: new Analytics(),
    gaps: new Gaps(rank >= RANK.admin, (gap) => { select("knowledge"); views.knowledge.draftFromGap(gap); }),
  };
  views.inbox.start();
  select(location.hash.slice(1) in views ? location.hash.slice(1) : "inbox", false);
}

function select(name, focus = true) {
  for (const tab of tabs) {
    const chosen = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(chosen));
    tab.tabIndex = chosen ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !chosen;
    if (chosen && focus) tab.focus();
  }
  history.replaceState(null, "", `#${name}`);
  views[name].show();
}

for (const tab of tabs) {
  tab.addEventListener("click", () => select(tab.dataset.view));
  tab.addEventListener("keydown", (event) => {
    const index = tabs.indexOf(tab);
    const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    select(tabs[(next + tabs.length) % tabs.length].dataset.view);
  });
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("key").value.trim());
});
$("sign-out").addEventListener("click", () => { auth.clear(); showSignIn("Signed out."); });
$("notify").addEventListener("click", async () => {
  const answer = await Notification.requestPermission();
  $("notify").hidden = answer !== "default";
  toast(answer === "granted" ? "New handoffs will also show as silent desktop notifications."
                             : "Desktop notifications stay off.");
});
window.addEventListener("console:signed-out", () => {
  if (views) { auth.clear(); showSignIn("The key stopped working (revoked?). Sign in again."); }
});

if (auth.key) signIn(auth.key); else showSignIn();
