// Analytics (figures and charts per day) and knowledge gaps.
import { $, api, h, percent, seconds, toast, when } from "/console/api.js";

const SVG = "http://www.w3.org/2000/svg";
const SHOWN = 300; // characters of an example question; the FAQ form gets them whole
const KPIS = [
  ["conversations", "Conversations", String],
  ["messages", "Customer messages", String],
  ["resolution_rate", "Resolution rate", percent],
  ["handoff_rate", "Handoff rate", percent],
  ["fallback_rate", "Fallback rate", percent],
  ["suggestion_choice_rate", "Suggestions chosen", percent],
  ["csat", "Thumbs up share (CSAT)", percent],
  ["median_first_bot_reply_seconds", "Median first bot reply", seconds],
  ["median_first_agent_reply_seconds", "Median first agent reply after handoff", seconds],
];

export class Analytics {
  constructor() {
    const today = new Date();
    const from = new Date(today.getTime() - 29 * 86400000);
    $("an-to").value = today.toISOString().slice(0, 10);
    $("an-from").value = from.toISOString().slice(0, 10);
    $("analytics-form").onsubmit = (event) => { event.preventDefault(); this.load(); };
  }

  show() { this.load(); }

  async load() {
    const query = new URLSearchParams({ from: $("an-from").value, to: $("an-to").value });
    if ($("an-channel").value) query.set("channel", $("an-channel").value);
    $("analytics-error").textContent = "";
    try {
      this.render(await api(`/admin/analytics?${query}`));
    } catch (error) {
      $("analytics-error").textContent = error.message;
    }
  }

  render(report) {
    $("kpis").replaceChildren(...KPIS.map(([field, label, format]) => h("div", { class: "kpi", "data-field": field },
      h("span", { class: "kpi-value" }, format(report[field])), h("span", { class: "kpi-label" }, label))),
    h("div", { class: "kpi", "data-field": "thumbs" },
      h("span", { class: "kpi-value" }, `${report.thumbs_up} / ${report.thumbs_down}`),
      h("span", { class: "kpi-label" }, "Thumbs up / down")));
    const days = report.days;
    $("chart-volume").replaceChildren(bars(days.map((d) => d.conversations), days, (v) => String(v),
      `Conversations per day from ${report.from} to ${report.to}, ${report.conversations} in all`));
    $("chart-rates").replaceChildren(h("p", { class: "legend legend-handoff" }, "Handoff rate"), bars(days.map((d) => d.handoff_rate), days, percent,
      `Handoff rate per day, ${percent(report.handoff_rate)} over the period`, "handoff"),
    h("p", { class: "legend legend-fallback" }, "Fallback rate"), bars(days.map((d) => d.fallback_rate), days, percent,
      `Fallback rate per day, ${percent(report.fallback_rate)} over the period`, "fallback"));
    $("channels-table").replaceChildren(table(report.channels, "channel", "Channel"));
    $("days-table").replaceChildren(table(days, "date", "Day"));
  }
}

function bars(values, days, format, label, tone = "volume") {
  const width = 480;
  const height = 120;
  const top = Math.max(...values.map((v) => v || 0), tone === "volume" ? 1 : 0.01);
  const step = width / Math.max(values.length, 1);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 20}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("class", `chart chart-${tone}`);
  values.forEach((value, index) => {
    const barHeight = value ? Math.max((value / top) * height, 2) : 0;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", String(index * step + step * 0.15));
    rect.setAttribute("y", String(height - barHeight));
    rect.setAttribute("width", String(step * 0.7));
    rect.setAttribute("height", String(barHeight));
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${days[index].date}: ${value === null ? "no data" : format(value)}`;
    rect.append(title);
    svg.append(rect);
  });
  for (const index of [0, values.length - 1]) {
    const text = document.createElementNS(SVG, "text");
    text.setAttribute("x", String(index === 0 ? 0 : width));
    text.setAttribute("y", String(height + 16));
    text.setAttribute("text-anchor", index === 0 ? "start" : "end");
    text.textContent = days[index]?.date.slice(5) || "";
    svg.append(text);
  }
  return svg;
}

function table(rows, key, title) {
  if (!rows.length) return h("p", { class: "muted" }, "No conversations in this period.");
  const columns = [[key, title, String], ["conversations", "Conv.", String], ["messages", "Msgs", String],
    ["resolution_rate", "Resolved", percent], ["handoff_rate", "Handoff", percent], ["fallback_rate", "Fallback", percent],
    ["thumbs_up", "Thumbs up", String], ["thumbs_down", "Thumbs down", String]];
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([, name]) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([field, , format]) => h("td", {}, format(row[field]))))))));
}

export class Gaps {
  // Only admin keys may read gaps, as only they may read the inbox: the questions are what customers wrote.
  constructor(allowed, createFaq) {
    this.allowed = allowed;
    this.createFaq = createFaq;
    $("gap-status").onchange = () => this.load();
    $("gaps-forbidden").hidden = allowed;
    for (const part of document.querySelectorAll(".gaps-view")) part.hidden = !allowed;
  }

  show() { if (this.allowed) this.load(); }

  async load() {
    $("gaps-error").textContent = "";
    $("gaps").setAttribute("aria-busy", "true");
    try {
      const page = await api(`/admin/gaps?status=${$("gap-status").value}`);
      $("gap-count").textContent = `(${page.open} open, ${page.closed} closed)`;
      $("gaps").replaceChildren(...(page.data.length ? page.data.map((gap) => this.item(gap))
        : [h("li", { class: "muted" }, "No gaps here.")]));
    } catch (error) {
      $("gaps-error").textContent = error.message;
    } finally {
      $("gaps").setAttribute("aria-busy", "false");
    }
  }

  item(gap) {
    const reasons = Object.entries(gap.reasons).filter(([, n]) => n).map(([name, n]) => `${n} ${name.replace("_", "-")}`);
    const people = `${gap.count} customer${gap.count === 1 ? "" : "s"}`;
    return h("li", { class: `gap card gap-${gap.status}`, "data-id": gap.id },
      h("div", { class: "row" }, h("h3", {}, `${people} · ${gap.messages} question${gap.messages === 1 ? "" : "s"}`),
        gap.status === "open"
          ? h("button", { type: "button", "data-needs": "editor", disabled: document.body.dataset.role === "viewer",
                          "aria-label": `Create FAQ from: ${gap.questions[0]}`, onclick: () => this.createFaq(gap) },
              "Create FAQ")
          : h("span", { class: "closed" }, `Answered by FAQ ${gap.answered_by.map((id) => `#${id}`).join(", ")}`)),
      h("p", { class: "muted small" }, `${reasons.join(", ")} · last asked ${when(gap.last_asked)}`),
      h("ul", { class: "questions" }, gap.questions.map((question) => h("li", { title: question.length > SHOWN ? question : null },
        question.length > SHOWN ? `${question.slice(0, SHOWN)}…` : question))),
      gap.status === "open" ? (gap.chosen || []).map((chosen) => this.chosen(chosen)) : []);
  }

  // Customers chose this FAQ from the fallback's suggestions: their questions, added as its alternative
  // questions, get the next customer its answer at once.
  chosen({ faq_id: id, faq_question: title, questions }) {
    const count = `${questions.length} question${questions.length === 1 ? "" : "s"}`;
    return h("p", { class: "row chosen" },
      h("span", { class: "small" }, `Customers chose “${title}” (FAQ #${id}) from the suggestions (${count}).`),
      h("button", { type: "button", "data-needs": "editor", disabled: document.body.dataset.role === "viewer",
                    "aria-label": `Add ${count} to FAQ #${id} as alternative questions`,
                    onclick: (event) => this.addTo(id, questions, event.currentTarget) }, `Add to FAQ #${id}`));
  }

  async addTo(id, questions, button) {
    button.disabled = true;
    try {
      const faq = await api(`/admin/faqs/${id}`);
      const alternatives = [...new Set([...faq.alt_questions, ...questions.filter((q) => q !== faq.question)])];
      await api(`/admin/faqs/${id}`, { method: "PATCH", body: { alt_questions: alternatives, version: faq.version } });
      toast(`Added to FAQ #${id}: customers asking this way now get its answer.`);
      await this.load();
    } catch (error) {
      button.disabled = false;
      $("gaps-error").textContent = error.message;
    }
  }
}
