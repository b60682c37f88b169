/*
 * Helpdesk chat widget. Add it to any page with one tag:
 *   <script src="https://YOUR-BOT-HOST/widget.js" defer></script>
 * Optional attributes: data-title="..." (header text), data-open="true" (open on page load),
 * data-poll-seconds="10" (how often to look for a person's answers while the conversation is handed over),
 * data-lang="de" (the conversation's language: the bot answers in it, and the widget's own texts are in it;
 * without it the texts follow the browser's language and the bot detects the customer's, docs/languages.md).
 *
 * Plain JavaScript, no build step. It lives in a shadow root so that the host page's styles and ours
 * never touch. Talks to the bot it was loaded from:
 *   POST widget/messages   Server-Sent Events: `token` while the LM writes, then `reply`
 *   GET  widget/history    the open conversation, shown again after a reload (and polled for a
 *                          person's answers while the conversation is handed over)
 *   POST feedback          thumbs up / down on a bot message
 *   GET  widget/strings    the widget's own texts in the page's language (the bot's message catalogue)
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__helpdeskWidget) return; // loaded twice: keep the first
  window.__helpdeskWidget = true;

  var base = new URL(".", script.src); // the bot, including any path prefix it is served under
  var lang = (script.getAttribute("data-lang") || "").trim();
  // The widget's own texts, English until widget/strings answers in the page's language (the catalogue's
  // widget_* texts, docs/languages.md).
  var T = {
    title: "Chat with us", open: "Open chat: {title}", close: "Close chat", subtitle: "Usually answers at once",
    subtitle_waiting: "Waiting for a person from our team", conversation: "Conversation",
    handoff_note: "A person from our team will take over this conversation. You can keep writing here; they " +
      "will see it.",
    typing: "The assistant is typing…", placeholder: "Type your question…", your_message: "Your message",
    send: "Send message", you_said: "You said: ", assistant: "Assistant: ", support_team: "Support team: ",
    sources: "Sources", choices: "Choices", helpful_question: "Was this answer helpful?", helpful: "Helpful",
    not_helpful: "Not helpful", feedback_failed: "Sorry, your feedback could not be saved. Please try again.",
    unavailable: "The chat is unavailable right now (HTTP {status}). Please try again later.",
    connection_lost: "The connection to the chat was lost. Please check your connection and try again.",
    reply_failed: "Sorry, I could not answer this message. Please try again, or ask for a person.",
    too_long: "Your message is too long. Please shorten it or split it into several messages.",
    bot_back: "The assistant is answering again.",
  };
  function t(key, values) {
    return T[key].replace(/\{(\w+)\}/g, function (all, name) { return values && name in values ? values[name] : all; });
  }
  var customTitle = script.getAttribute("data-title");
  var title = customTitle || T.title;
  var pollSeconds = Math.max(1, Number(script.getAttribute("data-poll-seconds")) || 10);
  var CHANNEL = "widget";
  var storageKey = "helpdesk-widget:" + base.href;

  function api(path) {
    return new URL(path, base).href;
  }

  // --- state kept across reloads: who this visitor is, and whether the chat was open ---
  function loadState() {
    try {
      return JSON.parse(localStorage.getItem(storageKey)) || {};
    } catch (error) {
      return {};
    }
  }

  function saveState(state) {
    try {
      localStorage.setItem(storageKey, JSON.stringify(state));
    } catch (error) {
      /* storage full or blocked: the chat still works, it just won't survive a reload */
    }
  }

  function newSenderId() {
    // 128 random bits as hex; crypto.getRandomValues also works on plain-http pages.
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  var state = loadState();
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(state.sender || "")) {
    state = { sender: newSenderId(), open: false };
    saveState(state);
  }

  // --- DOM ---
  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (name === "text") node.textContent = attributes[name];
      else node.setAttribute(name, attributes[name]);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  // Inline SVG icons: emoji need a colour-emoji font, which many systems (and headless browsers) lack.
  var ICONS = {
    chat: "M5 4h14a3 3 0 0 1 3 3v8a3 3 0 0 1-3 3h-8l-5 4v-4H5a3 3 0 0 1-3-3V7a3 3 0 0 1 3-3z",
    thumb: "M2 10h4v11H2z M8 21h9.5a2 2 0 0 0 1.9-1.4l2.4-7A2 2 0 0 0 19.9 10H14l1-4.5A2 2 0 0 0 13 3l-5 7z",
    send: "M3 20.5 21.5 12 3 3.5v6.6l12 1.9-12 1.9z",
  };

  function icon(name, turned) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "hd-icon" + (turned ? " hd-icon-turned" : ""));
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  var host = el("div", { id: "helpdesk-widget", style: "display:none" });
  var root = host.attachShadow({ mode: "open" });
  var stylesheet = el("link", { rel: "stylesheet", href: api("widget.css") });
  stylesheet.addEventListener("load", function () { host.style.display = ""; });
  stylesheet.addEventListener("error", function () { host.style.display = ""; });

  var launcher = el("button", {
    class: "hd-launcher", type: "button", "aria-expanded": "false", "aria-controls": "hd-panel",
    "aria-label": t("open", { title: title }),
  }, [icon("chat")]);

  var titleNode = el("h2", { id: "hd-title", class: "hd-title", text: title });
  var subtitle = el("p", { class: "hd-subtitle", id: "hd-subtitle", text: T.subtitle });
  var closeButton = el("button", { class: "hd-close", type: "button", "aria-label": T.close },
    [el("span", { "aria-hidden": "true", text: "×" })]);
  var handoffBanner = el("div", { class: "hd-handoff", role: "status", hidden: "" });
  var log = el("div", {
    class: "hd-log", role: "log", "aria-live": "polite", "aria-label": T.conversation, tabindex: "0",
  });
  var typing = el("div", { class: "hd-typing", role: "status", "aria-live": "polite", hidden: "" }, [
    el("span", { class: "hd-dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]),
    el("span", { class: "hd-typing-text", text: "" }),
  ]);
  var input = el("textarea", {
    id: "hd-input", class: "hd-input", rows: "1", maxlength: "4000", placeholder: T.placeholder,
    enterkeyhint: "send", autocomplete: "off",
  });
  var sendButton = el("button", { class: "hd-send", type: "submit", "aria-label": T.send },
    [icon("send")]);
  var form = el("form", { class: "hd-form" }, [
    el("label", { for: "hd-input", class: "hd-visually-hidden", text: T.your_message }), input, sendButton,
  ]);
  var panel = el("section", {
    id: "hd-panel", class: "hd-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "hd-title",
    "aria-describedby": "hd-subtitle", hidden: "",
  }, [
    el("header", { class: "hd-header" }, [el("div", { class: "hd-heading" }, [titleNode, subtitle]), closeButton]),
    handoffBanner, log, typing, form,
  ]);
  root.appendChild(stylesheet);
  root.appendChild(launcher);
  root.appendChild(panel);

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function setOpen(open, moveFocus) {
    panel.hidden = !open;
    launcher.hidden = open && window.matchMedia("(max-width: 480px)").matches; // the panel fills a phone
    launcher.setAttribute("aria-expanded", String(open));
    state.open = open;
    saveState(state);
    if (open) {
      scrollToEnd();
      if (moveFocus) input.focus();
    } else if (moveFocus) {
      launcher.hidden = false;
      launcher.focus();
    }
  }

  var poller = null; // looks for a person's answers while the conversation is handed over
  var lastAgentTurn = 0;

  function setHandoff(handedOver) {
    if (handedOver && !poller) poller = setInterval(lookForPeople, pollSeconds * 1000);
    if (!handedOver && poller) {
      clearInterval(poller);
      poller = null;
    }
    panel.classList.toggle("hd-handed-over", handedOver);
    handoffBanner.hidden = !handedOver;
    handoffBanner.textContent = handedOver ? T.handoff_note : "";
    subtitle.textContent = handedOver ? T.subtitle_waiting : T.subtitle;
    scrollToEnd(); // the banner takes room from the conversation
  }

  function showTyping(shown) {
    typing.hidden = !shown;
    typing.querySelector(".hd-typing-text").textContent = shown ? T.typing : "";
    if (shown) scrollToEnd();
  }

  // --- messages ---
  function addUserMessage(text) {
    var node = el("div", { class: "hd-msg hd-user" }, [
      el("span", { class: "hd-visually-hidden", text: T.you_said }),
      el("p", { class: "hd-text", text: text }),
    ]);
    log.appendChild(node);
    scrollToEnd();
    return node;
  }

  function addBotMessage() {
    var text = el("p", { class: "hd-text" });
    var node = el("div", { class: "hd-msg hd-bot", "aria-busy": "true" }, [
      el("span", { class: "hd-visually-hidden", text: T.assistant }), text,
    ]);
    log.appendChild(node);
    return node;
  }

  function addAgentMessage(turn) { // written by a person from the support team
    lastAgentTurn = Math.max(lastAgentTurn, turn.turn_id);
    log.appendChild(el("div", { class: "hd-msg hd-agent", "data-turn-id": String(turn.turn_id) }, [
      el("span", { class: "hd-visually-hidden", text: T.support_team }),
      el("p", { class: "hd-text", text: turn.text }),
    ]));
    scrollToEnd();
  }

  function addNotice(text, info) { // an error unless `info`
    log.appendChild(el("div", {
      class: "hd-notice" + (info ? " hd-info" : ""), role: info ? "status" : "alert", text: text,
    }));
    scrollToEnd();
  }

  function appendDelta(node, delta) {
    node.querySelector(".hd-text").textContent += delta;
    scrollToEnd();
  }

  // A finished bot message: its final text, kind, sources as links, and feedback buttons.
  // `reply` is {text, kind, turn_id, sources, feedback}, from a live reply or from the history.
  function finishBotMessage(node, reply) {
    node.querySelector(".hd-text").textContent = reply.text;
    node.setAttribute("aria-busy", "false");
    node.dataset.kind = reply.kind;
    node.dataset.turnId = String(reply.turn_id);
    if (reply.sources && reply.sources.length) {
      var list = el("ul", { class: "hd-sources-list" }, reply.sources.map(function (source) {
        // FAQs link to the bot's public FAQ page, document passages to their web page when they have one;
        // an uploaded file has no public address, so its title is shown without a link.
        var href = source.kind === "document"
          ? (/^https?:\/\//.test(source.url || "") ? source.url : null)
          : api("widget/faqs/" + encodeURIComponent(source.id));
        return el("li", {}, [href
          ? el("a", { href: href, target: "_blank", rel: "noopener", text: source.title })
          : el("span", { text: source.title })]);
      }));
      node.appendChild(el("div", { class: "hd-sources" }, [el("p", { class: "hd-sources-label", text: T.sources }), list]));
    }
    if (reply.image && /^https?:\/\//.test(reply.image)) node.appendChild(el("img", { class: "hd-image", src: reply.image, alt: "" }));
    if (reply.buttons && reply.buttons.length) node.appendChild(choiceButtons(reply.buttons));
    node.appendChild(feedbackButtons(reply.turn_id, reply.feedback || 0));
    scrollToEnd();
  }

  // A custom action's choices: pressing one sends its payload as the customer's message (Rasa's convention)
  // and shows its title in the conversation.
  function choiceButtons(buttons) {
    var group = el("div", { class: "hd-choices", role: "group", "aria-label": T.choices });
    buttons.forEach(function (choice) {
      var button = el("button", { type: "button", class: "hd-choice", text: choice.title });
      button.addEventListener("click", function () {
        if (busy) return;
        group.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        send(choice.payload, choice.title);
      });
      group.appendChild(button);
    });
    return group;
  }

  function feedbackButtons(turnId, given) {
    var group = el("div", { class: "hd-feedback", role: "group", "aria-label": T.helpful_question });
    var buttons = [
      { rating: "up", value: 1, label: T.helpful, turned: false },
      { rating: "down", value: -1, label: T.not_helpful, turned: true },
    ].map(function (choice) {
      var button = el("button", {
        type: "button", class: "hd-rate hd-rate-" + choice.rating, "aria-label": choice.label,
        "aria-pressed": String(given === choice.value),
      }, [icon("thumb", choice.turned)]);
      button.addEventListener("click", function () { rate(turnId, choice, buttons, group); });
      group.appendChild(button);
      return button;
    });
    return group;
  }

  function rate(turnId, choice, buttons, group) {
    fetch(api("feedback"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: state.sender, turn_id: turnId, rating: choice.rating, channel: CHANNEL }),
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      buttons.forEach(function (button) {
        button.setAttribute("aria-pressed", String(button.classList.contains("hd-rate-" + choice.rating)));
      });
      group.dataset.saved = choice.rating;
    }).catch(function () {
      addNotice(T.feedback_failed);
    });
  }

  // --- talking to the bot ---
  function parseEvent(frame) {
    var name = "message";
    var data = [];
    frame.split(/\r?\n/).forEach(function (line) {
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
    });
    return data.length ? { name: name, data: JSON.parse(data.join("\n")) } : null;
  }

  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var frames = buffer.split(/\r?\n\r?\n/);
      buffer = frames.pop();
      frames.map(parseEvent).forEach(function (event) { if (event) onEvent(event); });
    }
  }

  async function errorText(response) {
    if (response.status === 413) return T.too_long; // the API's detail is written for developers, in English
    if ((T.lang || "en") !== "en") return t("unavailable", { status: response.status });
    try {
      var body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail)) {  // a 422: a list of {loc, msg}, as FastAPI writes it
        return body.detail.map(function (item) { return item.msg; }).join(" ");
      }
    } catch (error) { /* not JSON */ }
    return t("unavailable", { status: response.status });
  }

  var busy = false;

  async function send(text, shown) {
    busy = true;
    sendButton.disabled = true;
    addUserMessage(shown || text);
    showTyping(true);
    var current = null; // the bot message being written
    try {
      var response = await fetch(api("widget/messages"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        // A fresh id per message: should this request be sent again, the bot answers it once.
        body: JSON.stringify({ sender: state.sender, message: text, client_message_id: newSenderId(),
                               metadata: lang ? { page: location.pathname, language: lang } : { page: location.pathname } }),
      });
      if (!response.ok) {
        addNotice(await errorText(response));
        return;
      }
      await readEvents(response, function (event) {
        if (event.name === "token") {
          if (!current) { showTyping(false); current = addBotMessage(); }
          appendDelta(current, event.data.text);
        } else if (event.name === "reply") {
          var custom = event.data.custom;
          showTyping(false);
          finishBotMessage(current || addBotMessage(), {
            text: event.data.text, kind: custom.kind, turn_id: custom.turn_id, sources: custom.sources, feedback: 0,
            buttons: event.data.buttons, image: event.data.image,
          });
          setHandoff(custom.kind === "handoff");
          current = null;
        } else if (event.name === "error") {
          addNotice(T.reply_failed);
        }
      });
    } catch (error) {
      addNotice(T.connection_lost);
    } finally {
      if (current && current.getAttribute("aria-busy") === "true") current.remove(); // never leave half an answer
      showTyping(false);
      busy = false;
      sendButton.disabled = false;
    }
  }

  async function fetchHistory() {
    try {
      var response = await fetch(api("widget/history?sender=" + encodeURIComponent(state.sender)));
      return response.ok ? await response.json() : null;
    } catch (error) {
      return null; // the bot is unreachable: the next message will say so
    }
  }

  async function restoreHistory() {
    var history = await fetchHistory();
    if (!history) return;
    history.turns.forEach(function (turn) {
      if (turn.role === "user") addUserMessage(turn.text);
      else if (turn.role === "agent") addAgentMessage(turn);
      else finishBotMessage(addBotMessage(), turn);
    });
    setHandoff(history.status === "handoff");
  }

  async function lookForPeople() {
    if (busy) return; // the reply being written will bring the state up to date
    var history = await fetchHistory();
    if (!history || busy) return;
    history.turns.forEach(function (turn) {
      if (turn.role === "agent" && turn.turn_id > lastAgentTurn) addAgentMessage(turn);
    });
    if (history.status !== "handoff") {
      setHandoff(false);
      addNotice(T.bot_back, true);
    }
  }

  // --- wiring ---
  launcher.addEventListener("click", function () { setOpen(panel.hidden, true); });
  closeButton.addEventListener("click", function () { setOpen(false, true); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false, true);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    send(text);
  });

  // The widget's texts in the page's language; the English ones stay if the bot cannot be reached.
  async function loadStrings() {
    try {
      var wanted = lang || navigator.language || "en";
      var response = await fetch(api("widget/strings?lang=" + encodeURIComponent(wanted)));
      if (!response.ok) return;
      var body = await response.json();
      Object.keys(T).forEach(function (key) { if (body.strings[key]) T[key] = body.strings[key]; });
      T.lang = body.language;
    } catch (error) {
      return;
    }
    title = customTitle || T.title;
    titleNode.textContent = title;
    launcher.setAttribute("aria-label", t("open", { title: title }));
    closeButton.setAttribute("aria-label", T.close);
    log.setAttribute("aria-label", T.conversation);
    input.setAttribute("placeholder", T.placeholder);
    sendButton.setAttribute("aria-label", T.send);
    form.querySelector("label").textContent = T.your_message;
    panel.setAttribute("lang", T.lang);
    setHandoff(panel.classList.contains("hd-handed-over"));
  }

  function start() {
    document.body.appendChild(host);
    loadStrings();
    restoreHistory().then(function () {
      host.dataset.ready = "true";
    });
    if (state.open || script.getAttribute("data-open") === "true") setOpen(true, false);
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
