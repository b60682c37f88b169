// The agents' inbox: conversations waiting for a person (polled), the transcript, agent assist, replies.
import { $, api, h, toast, when } from "/console/api.js";

const POLL_MS = Number(document.documentElement.dataset.pollMs || 2000);
const SEEN = "helpdesk-console:seen";
const AGENT = "helpdesk-console:agent";
const WHO = { user: "Customer", bot: "Bot", agent: "Agent" };

export class Inbox {
  constructor(allowed) {
    this.allowed = allowed;
    this.openId = null;
    this.openStamp = null;
    this.known = null; // handoff ids at the last poll; null until the first one
    this.assistFor = null; // the customer turn the shown suggestions answer
    this.timer = null;
    this.seen = JSON.parse(sessionStorage.getItem(SEEN) || "{}");
    $("agent-name").value = localStorage.getItem(AGENT) || "agent";
    this.bind();
  }

  bind() {
    $("inbox-status").onchange = () => this.poll();
    $("reply-form").onsubmit = (event) => { event.preventDefault(); this.send(); };
    $("reply-text").onkeydown = (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); this.send(); }
    };
    $("agent-name").onchange = () => localStorage.setItem(AGENT, $("agent-name").value.trim() || "agent");
    $("hand-back").onclick = () => this.setStatus("bot", "Handed back: the bot answers this customer again.");
    $("close-conversation").onclick = () => {
      if (confirm("Close this conversation? The customer's next message starts a new one.")) {
        this.setStatus("closed", "Conversation closed.");
      }
    };
  }

  start() {
    $("inbox-forbidden").hidden = this.allowed;
    document.querySelector(".inbox").hidden = !this.allowed;
    if (!this.allowed) return;
    this.poll();
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  stop() { clearInterval(this.timer); }

  show() { if (this.allowed) this.poll(); }

  async poll() {
    try {
      const status = $("inbox-status").value;
      const waiting = await api("/admin/conversations?status=handoff&limit=200");
      const shown = status === "handoff" ? waiting : await api(
        `/admin/conversations?limit=100${status ? `&status=${status}` : ""}`);
      this.notice(waiting.data);
      this.renderList(shown.data);
      if (this.openId !== null) await this.refreshOpen();
    } catch (error) {
      if (error.status !== 401) toast(`Inbox: ${error.message}`);
    }
  }

  notice(waiting) {
    const unread = waiting.filter((c) => c.id !== this.openId && this.seen[c.id] !== c.last_activity_at);
    const badge = $("unread");
    badge.hidden = unread.length === 0;
    badge.textContent = String(unread.length);
    badge.setAttribute("aria-label", `${unread.length} unread`);
    document.title = unread.length ? `(${unread.length}) Helpdesk console` : "Helpdesk console";
    const ids = new Set(waiting.map((c) => c.id));
    if (this.known !== null) {
      for (const conversation of waiting.filter((c) => !this.known.has(c.id))) {
        const message = `New handoff: ${customer(conversation)} on ${conversation.channel}`;
        toast(message);
        if ("Notification" in window && Notification.permission === "granted") {
          new Notification("Helpdesk console", { body: message, silent: true, tag: `handoff-${conversation.id}` });
        }
      }
    }
    this.known = ids;
  }

  renderList(conversations) {
    $("inbox-empty").hidden = conversations.length > 0;
    $("conversations").replaceChildren(...conversations.map((c) => {
      const unread = c.status === "handoff" && c.id !== this.openId && this.seen[c.id] !== c.last_activity_at;
      return h("li", {},
        h("button", {
          type: "button", class: `conversation${unread ? " unread" : ""}`, "data-id": c.id,
          "aria-current": c.id === this.openId ? "true" : null, onclick: () => this.open(c.id),
        },
        h("span", { class: "name" }, customer(c)),
        unread ? h("span", { class: "dot", "aria-label": "unread" }) : null,
        h("span", { class: "meta" }, `${c.channel}${language(c)} · ${c.status} · ${when(c.last_activity_at)}`)));
    }));
  }

  async open(id) {
    this.openId = id;
    this.openStamp = null;
    this.assistFor = null;
    $("detail-empty").hidden = true;
    $("detail-body").hidden = false;
    $("reply-error").textContent = "";
    $("assist").replaceChildren();
    await this.refreshOpen();
    $("reply-text").focus();
    this.poll();
  }

  async refreshOpen() {
    const id = this.openId;
    const conversation = await api(`/admin/conversations/${id}`);
    if (id !== this.openId) return;
    this.markSeen(conversation);
    const stamp = `${conversation.last_activity_at}/${conversation.turns.length}/${conversation.status}`;
    if (stamp === this.openStamp) return;
    this.openStamp = stamp;
    this.renderConversation(conversation);
    const lastCustomer = conversation.turns.filter((turn) => turn.role === "user").at(-1);
    if (lastCustomer && lastCustomer.id !== this.assistFor && conversation.status !== "closed") {
      this.assistFor = lastCustomer.id;
      this.suggest(id);
    }
  }

  markSeen(conversation) {
    this.seen[conversation.id] = conversation.last_activity_at;
    sessionStorage.setItem(SEEN, JSON.stringify(this.seen));
  }

  renderConversation(c) {
    $("detail-title").textContent = customer(c);
    const email = c.customer_email ? ` · ${c.customer_email}` : "";
    $("detail-meta").textContent =
      `#${c.id} · ${c.channel}${language(c)} · ${c.status}${email} · started ${when(c.started_at)}`;
    $("hand-back").disabled = c.status !== "handoff";
    $("close-conversation").disabled = c.status === "closed";
    $("send-reply").disabled = c.status === "closed";
    $("transcript").replaceChildren(...c.turns.map(turnItem));
    const log = $("transcript");
    log.scrollTop = log.scrollHeight;
  }

  async suggest(id) {
    const box = $("assist");
    box.setAttribute("aria-busy", "true");
    box.replaceChildren(h("p", { class: "muted" }, "Looking up the knowledge base…"));
    try {
      let result = await api(`/admin/conversations/${id}/suggestions?draft=false`);
      if (id !== this.openId) return;
      const drafting = result.decision === "generate" && !result.draft;
      renderSuggestions(result, drafting);
      if (drafting) {
        result = await api(`/admin/conversations/${id}/suggestions`);
        if (id === this.openId) renderSuggestions(result, false);
      }
    } catch (error) {
      if (id === this.openId) box.replaceChildren(h("p", { class: "error" }, `Suggestions: ${error.message}`));
    } finally {
      box.setAttribute("aria-busy", "false");
    }
  }

  async send() {
    const text = $("reply-text").value.trim();
    if (!text || this.openId === null) return;
    $("send-reply").disabled = true;
    $("reply-error").textContent = "";
    try {
      const posted = await api(`/admin/conversations/${this.openId}/messages`, {
        method: "POST", body: { text, agent: $("agent-name").value.trim() || "agent" } });
      $("reply-text").value = "";
      toast(`Sent. ${posted.delivery.detail}`);
      await this.refreshOpen();
    } catch (error) {
      $("reply-error").textContent = error.message;
    } finally {
      $("send-reply").disabled = false;
    }
  }

  async setStatus(status, message) {
    try {
      await api(`/admin/conversations/${this.openId}/status`, { method: "PUT", body: { status } });
      toast(message);
      await this.poll();
    } catch (error) {
      $("reply-error").textContent = error.message;
    }
  }
}

function customer(c) {
  return c.customer_name || c.sender_ids[0] || `Conversation ${c.id}`;
}

// The language the customer writes in (docs/languages.md), e.g. " · DE"; nothing before the first message.
function language(c) {
  return c.language ? ` · ${c.language.toUpperCase()}` : "";
}

function turnItem(turn) {
  const label = turn.role === "bot" ? `Bot · ${turn.kind}` : WHO[turn.role] || turn.role;
  const rating = turn.feedback === 1 ? "Rated helpful" : turn.feedback === -1 ? "Rated not helpful" : null;
  return h("li", { class: `turn turn-${turn.role}`, "data-kind": turn.kind },
    h("div", { class: "turn-head" }, h("strong", {}, label), h("span", { class: "muted" }, when(turn.created_at)),
      rating ? h("span", { class: `rating rating-${turn.feedback > 0 ? "up" : "down"}` }, rating) : null),
    h("p", { class: "turn-text" }, turn.text),
    turn.sources.length ? h("p", { class: "muted small" }, "Sources: ",
      turn.sources.map((source) => source.title).join("; ")) : null);
}

function renderSuggestions(result, drafting) {
  const parts = [];
  if (result.question) parts.push(h("p", { class: "muted small" }, `For: “${result.question}” · chat would: ${result.decision}`));
  if (result.draft) {
    parts.push(h("div", { class: "draft" },
      h("div", { class: "row" }, h("strong", {}, result.draft.kind === "faq" ? "Curated FAQ answer" : "Drafted answer"),
        h("button", { type: "button", class: "insert", "aria-label": "Insert the drafted answer",
                      onclick: () => insert(result.draft.text) }, "Insert")),
      h("p", { class: "draft-text" }, result.draft.text),
      h("p", { class: "muted small" }, "Sources: ", result.draft.sources.map((s) => s.title).join("; "))));
  } else if (drafting) {
    parts.push(h("p", { class: "muted drafting" }, "Drafting an answer with the language model…"));
  } else if (result.note) {
    parts.push(h("p", { class: "muted" }, result.note));
  }
  if (result.snippets.length) {
    parts.push(h("ul", { class: "plain snippets", "aria-label": "Top snippets" }, result.snippets.slice(0, 3).map(
      (snippet, index) => h("li", { class: "snippet" },
        h("div", { class: "row" },
          h("span", {}, h("strong", {}, snippet.title), ` · ${snippet.kind} · score ${snippet.score.toFixed(2)}`),
          h("button", { type: "button", class: "insert", "aria-label": `Insert snippet ${index + 1}: ${snippet.title}`,
                        onclick: () => insert(snippet.text) }, "Insert")),
        h("p", { class: "snippet-text" }, snippet.text)))));
  }
  $("assist").replaceChildren(...parts);
}

function insert(text) {
  const area = $("reply-text");
  area.setRangeText(text, area.selectionStart, area.selectionEnd, "end");
  area.focus();
}
