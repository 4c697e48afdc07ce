// citeqa web page: ask (streamed, cited answers), read sources, manage documents, give feedback.
// Dependency-free. Every piece of data reaches the page through textContent or DOM nodes, never
// innerHTML (the page's CSP also enforces Trusted Types, so an HTML string sink would throw).
"use strict";

(() => {
  const KEY_STORAGE = "citeqa.apiKey";
  const CONTEXT_CHARS = 600; // document text shown on each side of a cited span

  const $ = (id) => document.getElementById(id);

  const state = {
    historySupported: false,
    turns: [], // {question, answer (Answer JSON) | null, element}
    busy: false,
    uploading: false,
    docCache: new Map(), // doc_id -> Promise<document JSON>
    panelTrigger: null,
    panelCitation: null,
    panelWhole: false,
    turnSeq: 0,
  };

  // ---------------------------------------------------------------- small DOM helpers

  /** Element with attributes/properties and children (strings become text nodes). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "className") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function show(node, visible = true) {
    node.hidden = !visible;
  }

  function setText(node, text) {
    node.textContent = text || "";
    show(node, Boolean(text));
  }

  const numberFormat = new Intl.NumberFormat();

  // ---------------------------------------------------------------- API access

  class ApiError extends Error {
    constructor(message, status = 0, code = "") {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function apiKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE) || "";
    } catch {
      return "";
    }
  }

  function setApiKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch {
      /* storage unavailable: the key lives only as long as this call */
    }
    show($("forget-key"), Boolean(key));
  }

  function authHeaders(headers = {}) {
    const key = apiKey();
    return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
  }

  let keyRequest = null;

  /** Asks the reader for an API key (one dialog shared by every waiting request). */
  function requestKey(refused) {
    if (keyRequest) return keyRequest;
    const dialog = $("key-dialog");
    const input = $("api-key");
    $("key-message").textContent = refused
      ? "The API key was not accepted. Enter a valid key to continue."
      : "This service requires an API key for its documents and answers.";
    $("key-error").textContent = "";
    input.value = "";
    keyRequest = new Promise((resolve, reject) => {
      const finish = (key) => {
        dialog.removeEventListener("close", onClose);
        $("key-form").removeEventListener("submit", onSubmit);
        keyRequest = null;
        if (key) {
          setApiKey(key);
          resolve(key);
        } else {
          reject(new ApiError("An API key is needed to use this service.", 401, "unauthorized"));
        }
      };
      const onSubmit = (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) {
          $("key-error").textContent = "Enter the API key.";
          input.focus();
          return;
        }
        finish(key);
        dialog.close("saved");
      };
      const onClose = () => {
        if (keyRequest) finish("");
      };
      $("key-form").addEventListener("submit", onSubmit);
      dialog.addEventListener("close", onClose);
    });
    if (!dialog.open) dialog.showModal();
    input.focus();
    return keyRequest;
  }

  /** fetch() with the API key; on 401 asks for a key and retries. */
  async function apiFetch(path, options = {}) {
    for (;;) {
      const sentKey = apiKey();
      const response = await fetch(path, {
        ...options,
        headers: authHeaders(options.headers),
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.status !== 401) return response;
      if (sentKey) setApiKey("");
      await requestKey(Boolean(sentKey));
    }
  }

  /** Byte counts as people read them: "10485760 bytes" -> "10,485,760 bytes (10 MiB)". */
  function humanBytes(text) {
    return text.replace(/\b(\d{4,}) bytes\b/g, (_, digits) => {
      const n = Number(digits);
      const size = n >= 1048576 ? `${+(n / 1048576).toFixed(1)} MiB` : `${+(n / 1024).toFixed(1)} KiB`;
      return `${numberFormat.format(n)} bytes (${size})`;
    });
  }

  /** The API's error body in plain words: {"error": {"code", "message"}}. */
  function describeError(status, body, fallback) {
    const error = body && typeof body === "object" ? body.error : null;
    const raw = error && typeof error.message === "string" && error.message ? error.message : fallback;
    const code = error && typeof error.code === "string" ? error.code : "";
    let message = humanBytes(raw);
    if (!/[.!?]$/.test(message)) message += ".";
    return new ApiError(message, status, code);
  }

  async function errorFrom(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    return describeError(response.status, body, `request failed (HTTP ${response.status})`);
  }

  async function apiJson(path, options) {
    const response = await apiFetch(path, options);
    if (!response.ok) throw await errorFrom(response);
    return response.json();
  }

  function plainError(err) {
    if (err instanceof ApiError) return err.message;
    if (err instanceof TypeError) return "Could not reach the service. Check the connection and try again.";
    return (err && err.message) || "Something went wrong.";
  }

  // ---------------------------------------------------------------- Server-Sent Events

  /** Yields {event, data} from a fetch Response body (text/event-stream, any line ending). */
  async function* sseEvents(response) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = "";
    let data = [];
    const take = (line) => {
      if (line === "") {
        const frame = data.length ? { event: event || "message", data: data.join("\n") } : null;
        event = "";
        data = [];
        return frame;
      }
      if (line.startsWith(":")) return null;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      return null;
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      // A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
      const lines = buffer.split(/\r\n|\r(?!$)|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        const frame = take(line);
        if (frame) yield frame;
      }
    }
    const last = take(buffer.replace(/\r$/, "")) || take("");
    if (last) yield last;
  }

  // ---------------------------------------------------------------- offsets

  /** Python counts characters (code points); JS strings count UTF-16 units. Converts a
   *  code-point offset into a UTF-16 index of `text`. */
  function unitIndex(text, codePoints) {
    if (!/[\uD800-\uDFFF]/.test(text)) return Math.min(codePoints, text.length);
    let units = 0;
    for (let cp = 0; cp < codePoints && units < text.length; cp++) {
      const c = text.charCodeAt(units);
      units += c >= 0xd800 && c <= 0xdbff && units + 1 < text.length ? 2 : 1;
    }
    return units;
  }

  /** Moves a UTF-16 index back/forward so it never splits a surrogate pair. */
  function safeBoundary(text, index) {
    const c = text.charCodeAt(index);
    return c >= 0xdc00 && c <= 0xdfff ? index - 1 : index;
  }

  // ---------------------------------------------------------------- feature detection

  /** The JSON schema of POST /ask's body (following its $ref), whatever the schema is named. */
  function askRequestSchema(spec) {
    const body = spec?.paths?.["/ask"]?.post?.requestBody?.content?.["application/json"]?.schema;
    const prefix = "#/components/schemas/";
    if (typeof body?.$ref === "string" && body.$ref.startsWith(prefix)) {
      return spec.components?.schemas?.[body.$ref.slice(prefix.length)];
    }
    return body || spec?.components?.schemas?.AskRequest;
  }

  async function detectHistory() {
    try {
      const spec = await apiJson("/openapi.json");
      const ask = askRequestSchema(spec);
      state.historySupported = Boolean(ask?.properties && "history" in ask.properties);
    } catch (err) {
      state.historySupported = false;
      if (err instanceof ApiError && err.status === 401) throw err;
    }
    $("conversation-mode").textContent = state.historySupported
      ? "Follow-up questions are answered in the context of this conversation."
      : "Each question is answered on its own: this server does not take conversation history.";
  }

  // ---------------------------------------------------------------- service status

  let statusTimer = 0;

  async function refreshStatus() {
    clearTimeout(statusTimer);
    const status = $("service-status");
    try {
      const response = await fetch("/readyz", { cache: "no-store" });
      const body = await response.json().catch(() => null);
      if (response.ok && body) {
        status.textContent = `${numberFormat.format(body.documents)} documents · ${numberFormat.format(body.chunks)} passages`;
        status.dataset.state = "ready";
        return;
      }
      status.textContent = "Loading the model and index…";
      status.dataset.state = "loading";
    } catch {
      status.textContent = "Service unreachable";
      status.dataset.state = "error";
    }
    statusTimer = setTimeout(refreshStatus, 2000);
  }

  // ---------------------------------------------------------------- asking

  function newTurn(question) {
    const node = $("turn-template").content.firstElementChild.cloneNode(true);
    const seq = ++state.turnSeq;
    node.id = `turn-${seq}`;
    node.querySelector(".q-text").textContent = question;
    const comment = node.querySelector(".feedback-comment");
    comment.id = `comment-${seq}`;
    node.querySelector(".comment-label").htmlFor = comment.id;
    $("conversation").append(node);
    show($("empty-hint"), false);
    show($("new-conversation"), true);
    const turn = { question, answer: null, element: node };
    state.turns.push(turn);
    reveal(node);
    return turn;
  }

  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  /** Scrolls a turn into view (its scroll-margin keeps it clear of the sticky question box). */
  function reveal(node) {
    node.scrollIntoView({ block: "nearest", behavior: reducedMotion.matches ? "auto" : "smooth" });
  }

  function historyFor(turn) {
    return state.turns
      .filter((t) => t !== turn && t.answer)
      .map((t) => ({ question: t.question, answer: t.answer.answer, citations: t.answer.citations }));
  }

  async function ask(question) {
    if (state.busy) return;
    state.busy = true;
    $("ask-button").disabled = true;
    $("ask-error").textContent = "";
    const turn = newTurn(question);
    const body = { question, stream: true };
    if (state.historySupported) {
      const history = historyFor(turn);
      if (history.length) body.history = history;
    }
    try {
      const response = await apiFetch("/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw await errorFrom(response);
      const answer = await readAnswer(response, turn);
      turn.answer = answer;
      renderAnswer(turn, answer);
    } catch (err) {
      renderTurnError(turn, err);
    } finally {
      state.busy = false;
      $("ask-button").disabled = false;
    }
  }

  /** Streams the deltas into the turn; resolves with the final Answer JSON (`done` event). */
  async function readAnswer(response, turn) {
    const type = response.headers.get("content-type") || "";
    if (!type.includes("text/event-stream")) return response.json();
    const textNode = turn.element.querySelector(".answer-text");
    const stateText = turn.element.querySelector(".state-text");
    let answer = null;
    for await (const frame of sseEvents(response)) {
      const data = JSON.parse(frame.data);
      if (frame.event === "delta" && typeof data.text === "string") {
        stateText.textContent = "Answering…";
        textNode.append(document.createTextNode(data.text));
      } else if (frame.event === "done") {
        answer = data;
      }
    }
    if (!answer) throw new ApiError("The answer stream ended before it was complete. Please ask again.");
    return answer;
  }

  /** The answer text as nodes: every known `[n]` marker becomes a citation button. */
  function answerNodes(answer, turn) {
    const byId = new Map((answer.citations || []).map((c) => [c.id, c]));
    const nodes = [];
    const text = String(answer.answer || "");
    const marker = /\[(\d+)\]/g;
    let last = 0;
    for (const match of text.matchAll(marker)) {
      const citation = byId.get(Number(match[1]));
      if (!citation) continue;
      if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
      nodes.push(citeButton(citation, turn));
      last = match.index + match[0].length;
    }
    if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
    return nodes;
  }

  function citeButton(citation, turn) {
    const page = Number.isInteger(citation.page) ? `, page ${citation.page}` : "";
    return el("button", {
      type: "button",
      className: "cite",
      "aria-label": `Source ${citation.id}: ${citation.title || citation.doc_id}${page}`,
      title: `${citation.title || citation.doc_id}${page}`,
      "aria-controls": "source-panel",
      "aria-expanded": "false",
      dataset: { cite: String(citation.id), turn: turn.element.id },
      text: `[${citation.id}]`,
      onclick: (event) => openCitation(citation, event.currentTarget),
    });
  }

  function renderAnswer(turn, answer) {
    const root = turn.element;
    const q = (sel) => root.querySelector(sel);
    const article = q(".answer");
    show(q(".answer-state"), false);
    article.classList.toggle("is-abstained", Boolean(answer.abstained));
    article.classList.toggle("is-degraded", Boolean(answer.degraded));
    article.setAttribute("aria-label", answer.abstained ? "Not in the documents" : "Answer");

    const textNode = q(".answer-text");
    textNode.replaceChildren(...answerNodes(answer, turn));
    textNode.setAttribute("aria-busy", "false");

    show(q(".abstain-title"), Boolean(answer.abstained));
    setText(q(".abstain-reason"), answer.abstained && answer.abstain_reason ? `Why: ${answer.abstain_reason}` : "");

    renderConflicts(q(".conflicts"), answer, turn);
    setText(
      q(".degraded"),
      answer.degraded
        ? `Degraded answer: ${answer.degraded_reason || "the configured model was not available, so a fallback answered."}`
        : "",
    );
    const dropped = (answer.sentences || []).filter((s) => s && s.supported === false).length;
    setText(
      q(".dropped"),
      dropped
        ? `${dropped} sentence${dropped === 1 ? " was" : "s were"} left out because no quote in the documents supports ${dropped === 1 ? "it" : "them"}.`
        : "",
    );
    renderMeta(q(".answer-meta"), answer);
    renderSources(q(".sources"), answer, turn);
    setupFeedback(q(".feedback"), turn);
    // Show the start of the answer if it is taller than the screen, else all of it.
    if (root.getBoundingClientRect().height > window.innerHeight * 0.7) {
      root.scrollIntoView({ block: "start", behavior: reducedMotion.matches ? "auto" : "smooth" });
    } else {
      reveal(root);
    }
  }

  function renderConflicts(container, answer, turn) {
    const conflicts = Array.isArray(answer.conflicts) ? answer.conflicts : [];
    container.replaceChildren();
    show(container, conflicts.length > 0);
    const byId = new Map((answer.citations || []).map((c) => [c.id, c]));
    for (const conflict of conflicts) {
      const values = (conflict.values || []).map((v) => {
        const citation = byId.get(v.citation);
        return el(
          "li",
          { className: "conflict-value" },
          el("p", { className: "conflict-figure", text: v.value }),
          v.attribution ? el("p", { className: "conflict-attr", text: `per ${v.attribution}` }) : null,
          el(
            "p",
            { className: "conflict-source" },
            citation ? citeButton(citation, turn) : `[${v.citation}]`,
            " ",
            el("span", { text: citation ? citation.title : v.doc_id }),
          ),
        );
      });
      container.append(
        el(
          "div",
          { className: "conflict" },
          el("h3", { className: "conflict-topic", text: `Sources disagree: ${conflict.topic}` }),
          el("ul", { className: "conflict-values" }, values),
        ),
      );
    }
  }

  function renderMeta(list, answer) {
    list.replaceChildren();
    const items = [];
    if (typeof answer.confidence === "number" && Number.isFinite(answer.confidence)) {
      const value = Math.min(1, Math.max(0, answer.confidence));
      items.push([
        "Confidence",
        el(
          "span",
          { className: "confidence" },
          el("meter", { min: 0, max: 1, low: 0.4, high: 0.75, optimum: 1, value, "aria-hidden": "true" }),
          ` ${Math.round(value * 100)}%`,
        ),
      ]);
    }
    if (typeof answer.retrieval_query === "string" && answer.retrieval_query.trim()) {
      items.push(["Searched for", el("q", { className: "retrieval-query", text: answer.retrieval_query })]);
    }
    for (const [term, detail] of items) {
      list.append(el("div", {}, el("dt", { text: term }), el("dd", {}, detail)));
    }
    show(list, items.length > 0);
  }

  function renderSources(list, answer, turn) {
    list.replaceChildren();
    const citations = answer.citations || [];
    for (const c of citations) {
      const page = Number.isInteger(c.page) ? ` · page ${c.page}` : "";
      list.append(
        el("li", {}, citeButton(c, turn), " ", el("span", { className: "source-title", text: c.title || c.doc_id }), el("span", { className: "muted", text: page })),
      );
    }
    show(list, citations.length > 0);
  }

  function renderTurnError(turn, err) {
    const root = turn.element;
    state.turns = state.turns.filter((t) => t !== turn);
    show(root.querySelector(".answer-state"), false);
    root.querySelector(".answer").classList.add("is-error");
    const text = root.querySelector(".answer-text");
    text.setAttribute("aria-busy", "false");
    text.replaceChildren(
      el("p", { className: "error-text", text: `Could not answer: ${plainError(err)}` }),
      el("button", {
        type: "button",
        className: "secondary",
        text: "Ask again",
        onclick: () => {
          root.remove();
          ask(turn.question);
        },
      }),
    );
  }

  function resetConversation() {
    closePanel(false);
    state.turns = [];
    $("conversation").replaceChildren();
    show($("empty-hint"), true);
    show($("new-conversation"), false);
    $("question").focus();
  }

  // ---------------------------------------------------------------- feedback

  function setupFeedback(box, turn) {
    show(box, true);
    const status = box.querySelector(".feedback-status");
    for (const button of box.querySelectorAll(".thumb")) {
      button.addEventListener("click", async () => {
        const verdict = button.dataset.verdict;
        const comment = box.querySelector(".feedback-comment").value.trim();
        const payload = { verdict, question: turn.question, answer: turn.answer };
        if (comment) payload.comment = comment;
        for (const b of box.querySelectorAll(".thumb")) b.disabled = true;
        status.textContent = "Sending…";
        try {
          await apiJson("/feedback", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(payload),
          });
          button.setAttribute("aria-pressed", "true");
          status.textContent = "Thanks: your feedback was recorded.";
          box.querySelector(".feedback-comment").disabled = true;
        } catch (err) {
          for (const b of box.querySelectorAll(".thumb")) b.disabled = false;
          status.textContent = `Feedback not recorded: ${plainError(err)}`;
        }
      });
    }
  }

  // ---------------------------------------------------------------- source panel

  function loadDocument(docId) {
    if (!state.docCache.has(docId)) {
      const request = apiJson(`/documents/${encodeURIComponent(docId)}`);
      request.catch(() => state.docCache.delete(docId));
      state.docCache.set(docId, request);
    }
    return state.docCache.get(docId);
  }

  function openPanelShell(title, docId, trigger) {
    const panel = $("source-panel");
    if (state.panelTrigger && state.panelTrigger !== trigger) {
      state.panelTrigger.setAttribute("aria-expanded", "false");
    }
    state.panelTrigger = trigger || null;
    if (trigger && trigger.classList.contains("cite")) trigger.setAttribute("aria-expanded", "true");
    $("panel-title").textContent = title;
    $("panel-doc-id").textContent = docId;
    show($("panel-warning"), false);
    $("panel-text").replaceChildren(el("p", { className: "muted", text: "Loading the document…" }));
    show(panel, true);
    document.body.classList.add("panel-open");
    panel.focus();
  }

  async function openCitation(citation, trigger) {
    state.panelCitation = citation;
    state.panelWhole = false;
    $("panel-kicker").textContent = `Source [${citation.id}]`;
    openPanelShell(citation.title || citation.doc_id, citation.doc_id, trigger);
    const hasPage = Number.isInteger(citation.page);
    $("panel-page").textContent = hasPage ? String(citation.page) : "";
    show($("panel-page-row"), hasPage);
    $("panel-span").textContent = `${numberFormat.format(citation.start)}–${numberFormat.format(citation.end)}`;
    show($("panel-span-row"), true);
    show($("panel-toggle"), false);
    try {
      const doc = await loadDocument(citation.doc_id);
      if (state.panelCitation !== citation) return; // another citation was opened meanwhile
      if (doc.title) $("panel-title").textContent = doc.title;
      renderPassage(doc, citation);
    } catch (err) {
      if (state.panelCitation !== citation) return;
      const gone = err instanceof ApiError && err.status === 404;
      setText(
        $("panel-warning"),
        gone ? "This document is no longer in the index. The quoted passage was:" : `Could not load the document: ${plainError(err)}`,
      );
      $("panel-text").replaceChildren(el("blockquote", { className: "quote-only", text: citation.quote }));
    }
  }

  /** Renders the text around the cited span (or the whole text) with EXACTLY text[start:end]
   *  inside <mark>. Offsets are code points, as the API counts them. */
  function renderPassage(doc, citation) {
    const text = String(doc.text || "");
    const start = unitIndex(text, citation.start);
    const end = unitIndex(text, citation.end);
    const cited = text.slice(start, end);
    const matches = cited === citation.quote;
    setText(
      $("panel-warning"),
      matches ? "" : "The document has changed since this answer was given: the highlighted characters no longer match the quote.",
    );
    const from = state.panelWhole ? 0 : safeBoundary(text, Math.max(0, start - CONTEXT_CHARS));
    const to = state.panelWhole ? text.length : safeBoundary(text, Math.min(text.length, end + CONTEXT_CHARS));
    const excerpt = el(
      "div",
      { className: "excerpt" },
      text.slice(from, start),
      el("mark", { id: "cited-span", text: cited }),
      text.slice(end, to),
    );
    excerpt.classList.toggle("cut-start", from > 0);
    excerpt.classList.toggle("cut-end", to < text.length);
    $("panel-text").replaceChildren(excerpt);
    const toggle = $("panel-toggle");
    toggle.textContent = state.panelWhole ? "Show only the passage" : "Show the whole document";
    show(toggle, from > 0 || to < text.length || state.panelWhole);
    const mark = $("cited-span");
    requestAnimationFrame(() => mark.scrollIntoView({ block: "center", inline: "nearest" }));
  }

  async function openWholeDocument(docId, title, trigger) {
    state.panelCitation = null;
    state.panelWhole = true;
    $("panel-kicker").textContent = "Document";
    openPanelShell(title || docId, docId, trigger);
    show($("panel-page-row"), false);
    show($("panel-span-row"), false);
    show($("panel-toggle"), false);
    try {
      const doc = await loadDocument(docId);
      if (state.panelCitation !== null) return;
      $("panel-text").replaceChildren(el("div", { className: "excerpt", text: String(doc.text || "") }));
      $("panel-text").scrollTop = 0;
    } catch (err) {
      setText($("panel-warning"), `Could not load the document: ${plainError(err)}`);
      $("panel-text").replaceChildren();
    }
  }

  async function togglePanelScope() {
    const citation = state.panelCitation;
    if (!citation) return;
    state.panelWhole = !state.panelWhole;
    try {
      renderPassage(await loadDocument(citation.doc_id), citation);
    } catch (err) {
      setText($("panel-warning"), `Could not load the document: ${plainError(err)}`);
    }
  }

  function closePanel(restoreFocus = true) {
    const panel = $("source-panel");
    if (panel.hidden) return;
    show(panel, false);
    document.body.classList.remove("panel-open");
    state.panelCitation = null;
    const trigger = state.panelTrigger;
    state.panelTrigger = null;
    if (trigger) {
      trigger.setAttribute("aria-expanded", "false");
      if (restoreFocus && trigger.isConnected) trigger.focus();
    }
  }

  // ---------------------------------------------------------------- documents

  function formatSize(chars) {
    if (typeof chars !== "number") return "";
    return `${numberFormat.format(chars)} characters`;
  }

  function formatDate(value) {
    if (!value) return "—";
    const date = new Date(typeof value === "number" ? value * 1000 : value);
    return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleDateString();
  }

  async function loadDocuments() {
    const summary = $("docs-summary");
    summary.textContent = "Loading documents…";
    try {
      const body = await apiJson("/documents?limit=1000");
      renderDocuments(body);
    } catch (err) {
      summary.textContent = `Could not list the documents: ${plainError(err)}`;
    }
  }

  function renderDocuments(body) {
    const docs = Array.isArray(body.documents) ? body.documents : [];
    const hasChunks = docs.some((d) => typeof d.chunks === "number");
    const addedKey = ["added_at", "created_at", "added"].find((k) => docs.some((d) => d[k]));
    const hasPublished = docs.some((d) => d.published_at);
    for (const th of document.querySelectorAll(".col-published")) show(th, hasPublished);
    for (const th of document.querySelectorAll(".col-chunks")) show(th, hasChunks);
    for (const th of document.querySelectorAll(".col-added")) show(th, Boolean(addedKey));
    const rows = docs.map((doc) => {
      const title = doc.title || doc.id;
      return el(
        "tr",
        { dataset: { docId: doc.id } },
        el(
          "td",
          { className: "doc-title" },
          el("button", {
            type: "button",
            className: "link-button",
            text: title,
            "aria-label": `Read ${title}`,
            onclick: (event) => openWholeDocument(doc.id, title, event.currentTarget),
          }),
        ),
        el("td", { className: "doc-id", "data-label": "ID" }, el("code", { text: doc.id })),
        el("td", { className: "num", "data-label": "Size", text: formatSize(doc.chars) }),
        hasChunks ? el("td", { className: "num", "data-label": "Chunks", text: String(doc.chunks ?? "") }) : null,
        hasPublished ? el("td", { "data-label": "Published", text: formatDate(doc.published_at) }) : null,
        addedKey ? el("td", { "data-label": "Added", text: formatDate(doc[addedKey]) }) : null,
        el(
          "td",
          { className: "actions" },
          el("button", {
            type: "button",
            className: "danger-outline",
            text: "Delete",
            "aria-label": `Delete ${title}`,
            onclick: (event) => confirmDelete(doc, event.currentTarget),
          }),
        ),
      );
    });
    $("docs-body").replaceChildren(...rows);
    const total = typeof body.total === "number" ? body.total : docs.length;
    $("docs-summary").textContent =
      total === docs.length
        ? `${numberFormat.format(total)} document${total === 1 ? "" : "s"} in the index.`
        : `Showing ${numberFormat.format(docs.length)} of ${numberFormat.format(total)} documents.`;
  }

  function confirmDelete(doc, trigger) {
    const dialog = $("delete-dialog");
    $("delete-message").textContent = `“${doc.title || doc.id}” (${doc.id}) and its passages will be removed from the index. Answers will no longer cite it.`;
    dialog.returnValue = "";
    const onClose = async () => {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue !== "delete") {
        if (trigger.isConnected) trigger.focus();
        return;
      }
      const status = $("docs-summary");
      status.textContent = `Deleting ${doc.id}…`;
      try {
        await apiJson(`/documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" });
        state.docCache.delete(doc.id);
        await loadDocuments();
        status.textContent = `Deleted “${doc.title || doc.id}”. ${status.textContent}`;
        refreshStatus();
        $("docs-heading").focus();
      } catch (err) {
        status.textContent = `Could not delete ${doc.id}: ${plainError(err)}`;
      }
    };
    dialog.addEventListener("close", onClose);
    dialog.showModal();
  }

  /** Uploads with XMLHttpRequest for its upload progress events; resolves {status, body}. */
  function sendUpload(form, onProgress, onSent) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/documents");
      for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
      xhr.responseType = "text";
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      });
      xhr.upload.addEventListener("load", onSent);
      xhr.addEventListener("load", () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON */
        }
        resolve({ status: xhr.status, body });
      });
      xhr.addEventListener("error", () => reject(new ApiError("", 0, "network")));
      xhr.addEventListener("abort", () => reject(new ApiError("The upload was cancelled.", 0, "abort")));
      xhr.send(form);
    });
  }

  async function upload(file) {
    if (!file) return;
    if (state.uploading) {
      $("upload-error").textContent = "One upload at a time: wait for the current one to finish.";
      return;
    }
    state.uploading = true;
    const bar = $("upload-bar");
    const status = $("upload-status");
    const spinner = $("upload-spinner");
    $("upload-error").textContent = "";
    show($("upload-progress"), true);
    show(spinner, false);
    bar.value = 0;
    status.textContent = `Uploading ${file.name}… 0%`;
    $("upload-file").disabled = true;
    const title = $("upload-title").value.trim();
    try {
      for (;;) {
        const form = new FormData();
        form.append("file", file, file.name);
        if (title) form.append("title", title);
        const sentKey = apiKey();
        const result = await sendUpload(
          form,
          (fraction) => {
            bar.value = Math.round(fraction * 100);
            status.textContent = `Uploading ${file.name}… ${Math.round(fraction * 100)}%`;
          },
          () => {
            bar.removeAttribute("value"); // indeterminate while the server indexes
            show(spinner, true);
            status.textContent = `Indexing ${file.name}… (splitting, embedding and saving)`;
          },
        );
        if (result.status === 401) {
          if (sentKey) setApiKey("");
          await requestKey(Boolean(sentKey));
          continue;
        }
        if (result.status < 200 || result.status >= 300) {
          throw describeError(result.status, result.body, `upload failed (HTTP ${result.status})`);
        }
        const written = result.body || {};
        status.textContent = `Added “${written.title || written.id}” (${written.chunks} passage${written.chunks === 1 ? "" : "s"}).`;
        $("upload-title").value = "";
        state.docCache.delete(written.id);
        break;
      }
      await loadDocuments();
      refreshStatus();
    } catch (err) {
      status.textContent = "";
      const message =
        err instanceof ApiError && err.code === "network"
          ? `The upload of ${file.name} was interrupted before the server answered. If the file is large, it is probably over the server's upload size limit.`
          : `Upload failed: ${plainError(err)}`;
      $("upload-error").textContent = message;
    } finally {
      state.uploading = false;
      show($("upload-progress"), false);
      show(spinner, false);
      $("upload-file").disabled = false;
      $("upload-file").value = "";
    }
  }

  function setupDropZone() {
    const zone = $("drop-zone");
    const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
    zone.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      zone.classList.add("is-over");
    });
    zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("is-over");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-over");
      const files = Array.from(event.dataTransfer?.files || []);
      if (files.length > 1) {
        $("upload-error").textContent = "Drop one file at a time.";
        return;
      }
      upload(files[0]);
    });
    // A file dropped next to the zone must not navigate away from the page.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }

  // ---------------------------------------------------------------- views and wiring

  const VIEWS = ["ask", "documents"];

  function showView(name, focusHeading) {
    const view = VIEWS.includes(name) ? name : "ask";
    show($("view-ask"), view === "ask");
    show($("view-documents"), view === "documents");
    for (const link of document.querySelectorAll(".tabs a")) {
      if (link.dataset.view === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = view === "documents" ? "Documents · citeqa" : "citeqa: answers you can check";
    if (view === "documents") loadDocuments();
    if (focusHeading) $(view === "documents" ? "docs-heading" : "ask-heading").focus();
  }

  function wire() {
    const question = $("question");
    $("ask-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = question.value.trim();
      if (!text) {
        $("ask-error").textContent = "Type a question first.";
        question.focus();
        return;
      }
      if (state.busy) return;
      question.value = "";
      ask(text);
    });
    question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("ask-form").requestSubmit();
      }
    });
    $("new-conversation").addEventListener("click", resetConversation);
    $("panel-close").addEventListener("click", () => closePanel());
    $("panel-toggle").addEventListener("click", togglePanelScope);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !document.querySelector("dialog[open]")) closePanel();
    });
    $("key-cancel").addEventListener("click", () => $("key-dialog").close("cancel"));
    $("forget-key").addEventListener("click", () => {
      setApiKey("");
      state.docCache.clear();
    });
    $("upload-form").addEventListener("submit", (event) => event.preventDefault());
    $("upload-file").addEventListener("change", (event) => upload(event.target.files[0]));
    $("docs-refresh").addEventListener("click", loadDocuments);
    setupDropZone();
    window.addEventListener("hashchange", () => {
      const view = location.hash.slice(1);
      if (VIEWS.includes(view)) showView(view, true); // other fragments (the skip link) just move focus
    });
  }

  async function start() {
    wire();
    setApiKey(apiKey());
    showView(location.hash.slice(1), false);
    refreshStatus();
    try {
      await detectHistory();
    } catch (err) {
      $("conversation-mode").textContent = plainError(err);
    }
    document.documentElement.dataset.ready = "true";
  }

  start();
})();
