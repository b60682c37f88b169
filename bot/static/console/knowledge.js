// Knowledge: FAQs (list, search, create, edit, delete), documents, and hit testing.
import { $, api, h, toast, when } from "/console/api.js";

export class Knowledge {
  constructor(canEdit) {
    this.canEdit = canEdit;
    this.faqs = [];
    this.editing = null; // FAQ id, or null for a new one
    this.loaded = false;
    $("faq-filter").oninput = () => this.renderFaqs();
    $("new-faq").onclick = () => this.edit(null);
    $("cancel-faq").onclick = () => this.closeForm();
    $("faq-form").onsubmit = (event) => { event.preventDefault(); this.save(); };
    $("delete-faq").onclick = () => this.remove();
    $("enrich-faq").onclick = () => this.enrich();
    $("translate-faq").onclick = () => this.translate();
    $("hit-test").onsubmit = (event) => { event.preventDefault(); this.hitTest(); };
    $("doc-upload").onsubmit = (event) => { event.preventDefault(); this.upload(); };
  }

  show() { if (!this.loaded) this.load(); }

  async load() {
    try {
      const [faqs, documents] = await Promise.all([api("/admin/faqs?limit=1000"), api("/admin/documents?limit=1000")]);
      this.faqs = faqs.data;
      this.loaded = true;
      $("faq-count").textContent = `(${faqs.count})`;
      this.renderFaqs();
      this.renderDocuments(documents);
    } catch (error) {
      toast(`Knowledge: ${error.message}`);
    }
  }

  renderFaqs() {
    const words = $("faq-filter").value.toLowerCase().split(/\s+/).filter(Boolean);
    const matching = this.faqs.filter((faq) => {
      const text = [faq.question, faq.answer, ...faq.alt_questions, ...faq.generated_questions, ...faq.tags]
        .join(" ").toLowerCase();
      return words.every((word) => text.includes(word));
    });
    $("faqs").replaceChildren(...matching.map((faq) => h("li", {},
      h("button", { type: "button", class: "faq", "data-id": faq.id, onclick: () => this.edit(faq.id),
                    "aria-label": `${this.canEdit ? "Edit" : "Read"} FAQ: ${faq.question}` },
        h("span", { class: "name" }, faq.question),
        h("span", { class: "meta" }, `#${faq.id} · v${faq.version}${faq.tags.length ? ` · ${faq.tags.join(", ")}` : ""}`)))));
  }

  edit(id, prefill = null) {
    const faq = id === null ? null : this.faqs.find((item) => item.id === id);
    this.editing = id;
    const values = prefill || faq || { question: "", answer: "", alt_questions: [], tags: [] };
    $("faq-form-title").textContent = faq ? `Edit FAQ #${faq.id}` : "New FAQ";
    $("faq-question").value = values.question;
    $("faq-answer").value = values.answer;
    $("faq-alts").value = values.alt_questions.join("\n");
    $("faq-tags").value = values.tags.join(", ");
    this.renderGenerated(faq);
    $("delete-faq").hidden = !faq || !this.canEdit;
    $("save-faq").disabled = !this.canEdit;
    $("faq-error").textContent = this.canEdit ? "" : "Reading only: changes need an editor key.";
    $("faq-form").hidden = false;
    (prefill ? $("faq-answer") : $("faq-question")).focus();
  }

  // The LM's paraphrases and translations (training/enrichment.py): listed apart from the admin's, each removable on its own.
  renderGenerated(faq) {
    $("faq-generated-box").hidden = !faq;
    $("enrich-faq").hidden = !this.canEdit;
    $("translate-faq-box").hidden = !this.canEdit;
    if (!faq) return;
    $("faq-generated").replaceChildren(...faq.generated_questions.map((question) => h("li", { class: "row" },
      h("span", {}, question),
      this.canEdit && h("button", { type: "button", class: "danger", "aria-label": `Remove generated question: ${question}`,
                                    onclick: () => this.removeGenerated(faq.id, question) }, "Remove"))));
  }

  async removeGenerated(id, question) {
    await this.changeGenerated(id, () => api(
      `/admin/faqs/${id}/generated-questions?question=${encodeURIComponent(question)}`, { method: "DELETE" }));
  }

  async enrich() {
    toast("Asking the LM for paraphrases; this can take a minute.");
    await this.changeGenerated(this.editing, () => api(`/admin/faqs/${this.editing}/enrich`, { method: "POST" }));
  }

  // Its questions in a customer's language (training/translations.py): found by customers who write it.
  async translate() {
    const language = $("translate-language").value.trim().toLowerCase();
    if (!/^[a-z]{2,3}$/.test(language)) {
      $("faq-error").textContent = "Give a language code of two or three letters, e.g. de, zh, pt.";
      return;
    }
    toast(`Asking the LM for the questions in ${language}; this can take a minute.`);
    await this.changeGenerated(this.editing, () => api(
      `/admin/faqs/${this.editing}/enrich?language=${encodeURIComponent(language)}`, { method: "POST" }));
  }

  async changeGenerated(id, request) {
    try {
      const saved = await request();
      this.faqs = this.faqs.map((item) => (item.id === id ? saved : item));
      this.renderGenerated(saved);
      toast(`FAQ #${id} has ${saved.generated_questions.length} generated questions (version ${saved.version}).`);
    } catch (error) {
      $("faq-error").textContent = error.message;
    }
  }

  draftFromGap(gap) {
    const [question, ...others] = gap.questions;
    if (!this.loaded) this.load();
    this.edit(null, { question, answer: "", alt_questions: others, tags: [] });
  }

  closeForm() {
    $("faq-form").hidden = true;
    $("new-faq").focus();
  }

  async save() {
    const body = {
      question: $("faq-question").value.trim(),
      answer: $("faq-answer").value.trim(),
      alt_questions: $("faq-alts").value.split("\n").map((line) => line.trim()).filter(Boolean),
      tags: $("faq-tags").value.split(",").map((tag) => tag.trim()).filter(Boolean),
    };
    try {
      let saved;
      if (this.editing === null) {
        saved = await api("/admin/faqs", { method: "POST", body });
      } else {
        // Only what was edited, and the version it was edited from: another editor's change to any other
        // field survives, and a change to the same FAQ in between is a 409 instead of a silent overwrite.
        const loaded = this.faqs.find((item) => item.id === this.editing);
        const changes = Object.fromEntries(Object.entries(body).filter(
          ([field, value]) => JSON.stringify(value) !== JSON.stringify(loaded[field])));
        if (!Object.keys(changes).length) { toast("Nothing changed."); this.closeForm(); return; }
        saved = await api(`/admin/faqs/${this.editing}`,
          { method: "PATCH", body: { ...changes, version: loaded.version } });
      }
      toast(`Saved FAQ #${saved.id} (version ${saved.version}); chat uses it from the next message.`);
      this.loaded = false;
      await this.load();
      this.closeForm();
    } catch (error) {
      $("faq-error").textContent = error.message;
    }
  }

  async remove() {
    if (!confirm("Delete this FAQ? Chat stops using it at once.")) return;
    try {
      await api(`/admin/faqs/${this.editing}`, { method: "DELETE" });
      toast(`Deleted FAQ #${this.editing}.`);
      this.loaded = false;
      await this.load();
      this.closeForm();
    } catch (error) {
      $("faq-error").textContent = error.message;
    }
  }

  async hitTest() {
    const box = $("hit-results");
    try {
      const result = await api("/admin/search", { method: "POST", body: { query: $("hit-query").value, top_k: 5 } });
      const head = h("tr", {}, ["#", "Hit", "Kind", "Cosine", "BM25", "Fused"].map((name) => h("th", { scope: "col" }, name)));
      const rows = result.hits.map((hit, index) => h("tr", {},
        h("td", {}, index + 1), h("td", {}, hit.title), h("td", {}, hit.kind),
        h("td", {}, hit.scores.dense === null ? "–" : hit.scores.dense.toFixed(3)),
        h("td", {}, hit.scores.bm25 === null ? "–" : hit.scores.bm25.toFixed(2)), h("td", {}, hit.scores.fused.toFixed(4))));
      const translated = result.translated ? [h("p", { class: "translated" },
        `Searched as chat searches it, translated from ${result.translated.query_language} into ${result.translated.language}: `,
        h("q", {}, result.translated.text), `. ${result.translated.note}`)] : [];
      box.replaceChildren(...translated,
        h("p", { class: "decision" }, h("strong", {}, `Decision: ${result.decision}`),
          ` (FAQ at ≥ ${result.thresholds.faq}, generated at ≥ ${result.thresholds.generate})`),
        h("div", { class: "scroll" }, h("table", {}, h("caption", { class: "visually-hidden" }, "Ranked hits"),
          h("thead", {}, head), h("tbody", {}, rows))));
    } catch (error) {
      box.replaceChildren(h("p", { class: "error" }, error.message));
    }
  }

  renderDocuments(page) {
    $("doc-count").textContent = `(${page.count})`;
    $("documents").replaceChildren(...page.data.map((doc) => h("li", { class: "row" },
      h("span", {}, h("span", { class: "name" }, doc.title),
        h("span", { class: "meta" }, ` ${doc.source} · ${doc.chunk_count} passages · ${when(doc.updated_at)}`)),
      h("button", { type: "button", class: "danger", disabled: !this.canEdit, "aria-label": `Delete document ${doc.title}`,
                    onclick: () => this.removeDocument(doc) }, "Delete"))));
  }

  async upload() {
    const files = $("doc-files").files;
    if (!files.length) { $("doc-error").textContent = "Choose one or more files first."; return; }
    const form = new FormData();
    for (const file of files) form.append("files", file);
    try {
      const result = await api("/admin/documents", { method: "POST", form });
      $("doc-error").textContent = result.errors.map((error) => `${error.item}: ${error.message}`).join("; ");
      toast(`Uploaded ${result.documents.length} document(s).`);
      this.loaded = false;
      await this.load();
    } catch (error) {
      $("doc-error").textContent = error.message;
    }
  }

  async removeDocument(doc) {
    if (!confirm(`Delete ${doc.title}? Chat stops citing it at once.`)) return;
    try {
      await api(`/admin/documents/${doc.id}`, { method: "DELETE" });
      this.loaded = false;
      await this.load();
    } catch (error) {
      $("doc-error").textContent = error.message;
    }
  }
}
