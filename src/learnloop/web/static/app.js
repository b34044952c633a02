// learnloop progressive enhancement. Every form on the site works without this file; it only
// swaps full-page posts for fetch() calls and adds the Focus timer, the word count, polling for
// written feedback and the theme toggle. No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (e) {
      // Without storage the timer still works for this page; it just does not persist.
    }
  }

  // ---------------------------------------------------------------- fetch helpers

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function postForm(form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    return postData(form.getAttribute("action"), new URLSearchParams(data));
  }

  // One Idempotency-Key per submission: if the network drops the response, the single retry
  // reuses it, so the server never counts the attempt, answer or completion twice.
  function postData(url, body) {
    var key = newKey();
    function send() {
      return fetch(url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF-Token": csrfToken, "Idempotency-Key": key },
      });
    }
    return send()
      .catch(function () {
        return new Promise(function (resolve) {
          window.setTimeout(resolve, 1000);
        }).then(send);
      })
      .then(readJson);
  }

  function getJson(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(readJson);
  }

  function readJson(response) {
    return response
      .json()
      .catch(function () {
        return {};
      })
      .then(function (body) {
        if (!response.ok) {
          var message = body.message || body.detail || "Something went wrong (" + response.status + ").";
          if (typeof message !== "string") {
            message = "Please check your answer and try again.";
          }
          var error = new Error(message);
          error.status = response.status;
          throw error;
        }
        return body;
      });
  }

  function showError(region, error) {
    region.className = region.className.replace(/\b(correct|incorrect|close)\b/g, "").trim();
    region.textContent = "";
    var p = document.createElement("p");
    p.className = "verdict-title";
    p.textContent = error.message;
    region.appendChild(p);
    if (error.status === 401) {
      var link = document.createElement("a");
      link.href = "/signin?next=" + encodeURIComponent(window.location.pathname);
      link.textContent = "Sign in again";
      region.appendChild(link);
    }
  }

  function busy(form, on) {
    var buttons = form.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = on;
    }
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  // Forms marked data-enhance post with fetch and put the server-rendered fragment (autoescaped
  // by Jinja, the same markup the no-JS page shows) into their target region.
  function enhanceForms() {
    var forms = document.querySelectorAll("form[data-enhance]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", onEnhancedSubmit);
    }
  }

  function onEnhancedSubmit(event) {
    var form = event.currentTarget;
    if (form.getAttribute("data-enhance") === "hint") {
      return; // handled by the delegated hint listener
    }
    var region = document.getElementById(form.getAttribute("data-target"));
    if (!region) {
      return;
    }
    event.preventDefault();
    busy(form, true);
    if (form.getAttribute("data-enhance") === "tutor" && window.TextDecoder && window.ReadableStream) {
      streamTutor(form, region).then(function () {
        busy(form, false);
      });
      return;
    }
    postForm(form, event.submitter)
      .then(function (data) {
        if (form.getAttribute("data-enhance") === "tutor") {
          // Without streaming the server answers one exchange: the thread keeps the others.
          region.insertAdjacentHTML("beforeend", data.html || "");
        } else {
          region.innerHTML = data.html || "";
        }
        if (data.verdict) {
          region.className = "verdict " + data.verdict;
          var card = form.closest(".exercise");
          var hintForm = card ? card.querySelector("form.hint-form[data-target]") : null;
          if (hintForm) {
            hintForm.hidden = data.verdict === "correct";
          }
        }
        var kind = form.getAttribute("data-enhance");
        if (kind === "written" && data.status_url) {
          form.hidden = true;
          startPolling(region, data.status_url);
        }
        if (kind === "complete") {
          form.hidden = true;
          region.focus();
          var chips = document.querySelector(".lesson-header .chips");
          if (chips && !chips.querySelector(".chip-done")) {
            var chip = document.createElement("li");
            chip.className = "chip chip-done";
            chip.textContent = "\u2713 Completed";
            chips.appendChild(chip);
          }
        }
      })
      .catch(function (error) {
        showError(region, error);
      })
      .then(function () {
        busy(form, false);
        // The button was disabled while checking, which drops focus to <body>: give it back.
        var active = document.activeElement;
        if (!form.hidden && (!active || active === document.body)) {
          var button = form.querySelector("button[type=submit]");
          if (button) {
            button.focus();
          }
        }
      });
  }

  // ---------------------------------------------------------------- go deeper (streamed)
  //
  // The tutor's answer arrives as server-sent events over the POST response: `citations`,
  // `text` chunks (JSON strings, shown as text, never as HTML) while a model writes, then
  // `html`: the exchange as the server renders it (autoescaped Jinja, the markup the page
  // shows without JS), which replaces the streamed text, then `done`.

  function threadItem(region, question) {
    var item = document.createElement("li");
    item.className = "tutor-exchange";
    var asked = document.createElement("p");
    asked.className = "tutor-question";
    asked.textContent = question;
    var reply = document.createElement("div");
    reply.className = "tutor-reply";
    reply.setAttribute("aria-busy", "true");
    var text = document.createElement("p");
    reply.appendChild(text);
    item.appendChild(asked);
    item.appendChild(reply);
    region.appendChild(item);
    return { item: item, reply: reply, text: text };
  }

  function questionOf(form) {
    var input = form.querySelector("input[name=question]");
    if (input) {
      return input.value;
    }
    var button = form.querySelector("button.question");
    return button ? button.textContent : "";
  }

  function streamTutor(form, region) {
    var body = new URLSearchParams(new FormData(form));
    var slot = threadItem(region, questionOf(form));
    return fetch(form.getAttribute("action"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "text/event-stream", "X-CSRF-Token": csrfToken },
    })
      .then(function (response) {
        if (!response.ok || !response.body) {
          return readJson(response);
        }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function handle(raw) {
          var name = "message";
          var data = "";
          raw.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) {
              name = line.slice(6).trim();
            } else if (line.indexOf("data:") === 0) {
              data += line.slice(5).trim();
            }
          });
          var value = data ? JSON.parse(data) : null;
          if (name === "text" && typeof value === "string") {
            slot.text.textContent += value;
          } else if (name === "html" && typeof value === "string") {
            var holder = document.createElement("ol");
            holder.innerHTML = value;
            var rendered = holder.firstElementChild;
            if (rendered) {
              region.replaceChild(rendered, slot.item);
              slot.item = rendered;
            }
          }
        }
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) {
              return;
            }
            buffer += decoder.decode(chunk.value, { stream: true });
            var end = buffer.indexOf("\n\n");
            while (end !== -1) {
              handle(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
              end = buffer.indexOf("\n\n");
            }
            return pump();
          });
        }
        return pump().then(function () {
          var input = form.querySelector("input[name=question]");
          if (input) {
            input.value = "";
          }
        });
      })
      .catch(function (error) {
        showError(slot.reply, error);
      })
      .then(function () {
        slot.reply.setAttribute("aria-busy", "false");
      });
  }

  // The conversation is kept per learner and lesson; the page loads it after it renders, so
  // the cached page itself never carries a learner's questions.
  function loadThread() {
    var region = document.getElementById("tutor-thread");
    if (!region || region.children.length || !region.getAttribute("data-thread-url")) {
      return;
    }
    getJson(region.getAttribute("data-thread-url"))
      .then(function (data) {
        if (!region.children.length && typeof data.html === "string") {
          region.innerHTML = data.html;
        }
      })
      .catch(function () {
        // The conversation stays on the server; the page works without it.
      });
  }

  // ---------------------------------------------------------------- hints
  //
  // "Get a hint", "Next hint" and "Show the answer" post to the same URL; the server decides
  // the level and records it. Each reply is a fragment appended to the exercise's hints.

  function onHintSubmit(event) {
    var form = event.target;
    if (!form || form.getAttribute("data-enhance") !== "hint") {
      return;
    }
    var card = form.closest(".exercise");
    var region = card ? card.querySelector(".hints") : null;
    if (!region) {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    busy(form, true);
    postForm(form, event.submitter)
      .then(function (data) {
        var old = region.querySelectorAll(".hint-item form");
        for (var i = 0; i < old.length; i++) {
          old[i].remove();
        }
        region.insertAdjacentHTML("beforeend", data.html || "");
        var next = region.querySelector(".hint-item:last-child button");
        if (next) {
          next.focus();
        }
        if (data.level === 0 && card) {
          var start = card.querySelector("form.hint-form[data-target]");
          if (start) {
            start.hidden = true;
          }
        }
      })
      .catch(function (error) {
        showError(region, error);
      })
      .then(function () {
        busy(form, false);
      });
  }

  // ---------------------------------------------------------------- written answers

  function countWords(text) {
    var words = text.trim().split(/\s+/);
    return words[0] === "" ? 0 : words.length;
  }

  function enhanceWordCounts() {
    var areas = document.querySelectorAll("textarea[data-word-count]");
    for (var i = 0; i < areas.length; i++) {
      (function (area) {
        var output = document.getElementById(area.getAttribute("data-word-count"));
        var min = parseInt(area.getAttribute("data-min-words") || "0", 10);
        var max = parseInt(area.getAttribute("data-max-words") || "0", 10);
        function update() {
          var n = countWords(area.value);
          var text = n + (n === 1 ? " word" : " words");
          if (min && n < min) {
            text += " (at least " + min + ")";
          } else if (max) {
            text += " of " + max;
          }
          output.textContent = text;
          output.classList.toggle("out-of-range", (min && n < min) || (max && n > max));
        }
        area.addEventListener("input", update);
        update();
      })(areas[i]);
    }
  }

  // Polls the learner's own response (a cookie-session page route) until it is graded.
  function startPolling(region, url) {
    var delay = 1500;
    var deadline = Date.now() + 10 * 60 * 1000;
    function poll() {
      getJson(url)
        .then(function (data) {
          if (data.status === "pending" && Date.now() < deadline) {
            delay = Math.min(delay * 1.3, 8000);
            window.setTimeout(poll, delay);
            return;
          }
          region.innerHTML = data.html || "";
          // Graded (or failed): the learner may now revise and submit again.
          var form = document.querySelector('form[data-target="' + region.id + '"]');
          if (form) {
            form.hidden = false;
            var label = form.querySelector("label");
            if (label) {
              label.textContent = "Submit a revised answer";
            }
          }
        })
        .catch(function () {
          if (Date.now() < deadline) {
            window.setTimeout(poll, 8000);
          }
        });
    }
    window.setTimeout(poll, delay);
  }

  function resumePolling() {
    var regions = document.querySelectorAll("[data-poll-url]");
    for (var i = 0; i < regions.length; i++) {
      startPolling(regions[i], regions[i].getAttribute("data-poll-url"));
    }
  }

  // ---------------------------------------------------------------- theme toggle

  function effectiveTheme() {
    var chosen = document.documentElement.getAttribute("data-theme");
    if (chosen === "light" || chosen === "dark") {
      return chosen;
    }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches
      ? "dark"
      : "light";
  }

  function enhanceThemeToggle() {
    var button = document.getElementById("theme-toggle");
    if (!button) {
      return;
    }
    function label() {
      var next = effectiveTheme() === "dark" ? "light" : "dark";
      button.setAttribute("aria-label", "Switch to " + next + " theme");
      button.setAttribute("title", "Switch to " + next + " theme");
      button.textContent = next === "dark" ? "\u263E" : "\u2600";
    }
    button.hidden = false;
    label();
    button.addEventListener("click", function () {
      var next = effectiveTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      storageSet("learnloop.theme", next);
      label();
    });
  }

  // ---------------------------------------------------------------- focus timer
  //
  // State lives in localStorage and is keyed by the end timestamp of the running block, so the
  // countdown survives reloads and moves between lessons, and every tab shows the same clock.
  // A finished focus block is posted to the server once; failed posts are queued and retried.

  var TIMER_KEY = "learnloop.focus.v1";
  var RECORDED_KEY = "learnloop.focus.recorded";
  var QUEUE_KEY = "learnloop.focus.queue";

  function initTimer() {
    var root = document.getElementById("focus-timer");
    if (!root) {
      return;
    }
    var focusMs = parseInt(root.getAttribute("data-focus-seconds"), 10) * 1000;
    var breakMs = parseInt(root.getAttribute("data-break-seconds"), 10) * 1000;
    var recordUrl = root.getAttribute("data-record-url");
    var display = root.querySelector(".timer-display");
    var modeLabel = root.querySelector(".timer-mode");
    var toggle = root.querySelector("[data-timer-toggle]");
    var reset = root.querySelector("[data-timer-reset]");
    var announcer = document.getElementById("timer-announcer");

    function fresh() {
      return { mode: "focus", running: false, endsAt: null, remainingMs: focusMs, startedAt: null };
    }

    function load() {
      try {
        var s = JSON.parse(storageGet(TIMER_KEY) || "null");
        if (s && (s.mode === "focus" || s.mode === "break")) {
          return s;
        }
      } catch (e) {
        // A corrupt value is replaced by a fresh timer.
      }
      return fresh();
    }

    var state = load();

    function save() {
      storageSet(TIMER_KEY, JSON.stringify(state));
    }

    function announce(text) {
      if (announcer) {
        announcer.textContent = text;
      }
    }

    function remaining(now) {
      return state.running ? Math.max(0, state.endsAt - now) : state.remainingMs;
    }

    function format(ms) {
      var total = Math.ceil(ms / 1000);
      var m = Math.floor(total / 60);
      var s = total % 60;
      return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
    }

    function queueRecord(block) {
      var recorded = JSON.parse(storageGet(RECORDED_KEY) || "[]");
      if (recorded.indexOf(block.id) !== -1) {
        return;
      }
      recorded.push(block.id);
      storageSet(RECORDED_KEY, JSON.stringify(recorded.slice(-50)));
      var queue = JSON.parse(storageGet(QUEUE_KEY) || "[]");
      queue.push(block);
      storageSet(QUEUE_KEY, JSON.stringify(queue));
      flushQueue();
    }

    var flushing = false;
    function flushQueue() {
      if (flushing || !recordUrl) {
        return;
      }
      var queue = JSON.parse(storageGet(QUEUE_KEY) || "[]");
      if (!queue.length) {
        return;
      }
      var block = queue[0];
      flushing = true;
      var body = new URLSearchParams();
      body.append("minutes", String(block.minutes));
      body.append("started_at", block.startedAt);
      body.append("csrf_token", csrfToken);
      postData(recordUrl, body)
        .then(function () {
          var rest = JSON.parse(storageGet(QUEUE_KEY) || "[]").filter(function (b) {
            return b.id !== block.id;
          });
          storageSet(QUEUE_KEY, JSON.stringify(rest));
          flushing = false;
          flushQueue();
        })
        .catch(function (error) {
          flushing = false;
          if (error.status && error.status < 500 && error.status !== 401 && error.status !== 403) {
            // The server refused this block for good (e.g. invalid); do not retry forever.
            var rest = JSON.parse(storageGet(QUEUE_KEY) || "[]").filter(function (b) {
              return b.id !== block.id;
            });
            storageSet(QUEUE_KEY, JSON.stringify(rest));
          }
        });
    }

    // Moves the state machine forward past any block boundaries that have passed, including
    // ones that passed while no page was open.
    function advance(now) {
      var changed = false;
      while (state.running && state.endsAt <= now) {
        changed = true;
        if (state.mode === "focus") {
          var startedAt = state.startedAt || new Date(state.endsAt - focusMs).toISOString();
          queueRecord({
            id: String(state.endsAt),
            minutes: Math.round(focusMs / 60000),
            startedAt: startedAt,
          });
          var breakEnds = state.endsAt + breakMs;
          state = { mode: "break", running: true, endsAt: breakEnds, remainingMs: breakMs, startedAt: null };
          announce("Focus block complete and recorded. Take a " + Math.round(breakMs / 60000) + " minute break.");
        } else {
          state = fresh();
          announce("Break over. Start the timer when you are ready to focus again.");
        }
      }
      if (changed) {
        save();
      }
    }

    var baseTitle = document.title;

    function render() {
      var now = Date.now();
      advance(now);
      var shown = format(remaining(now));
      display.textContent = shown;
      // The countdown in the tab title, so it stays in sight while reading another tab.
      document.title = state.running
        ? shown + " " + (state.mode === "focus" ? "Focus" : "Break") + " \u00b7 " + baseTitle
        : baseTitle;
      root.setAttribute("data-mode", state.mode);
      root.setAttribute("data-running", state.running ? "true" : "false");
      modeLabel.textContent = state.mode === "focus" ? "Focus" : "Break";
      var full = state.mode === "focus" ? focusMs : breakMs;
      var action = state.running ? "Pause" : state.remainingMs < full ? "Resume" : "Start";
      toggle.textContent = action;
      // The accessible name starts with the visible word, so speech users can say what they see.
      toggle.setAttribute("aria-label", action + " the " + (state.mode === "focus" ? "focus" : "break") + " timer");
    }

    toggle.addEventListener("click", function () {
      var now = Date.now();
      state = load();
      advance(now);
      if (state.running) {
        state.remainingMs = Math.max(0, state.endsAt - now);
        state.running = false;
        state.endsAt = null;
        announce("Timer paused at " + format(state.remainingMs) + ".");
      } else {
        if (state.mode === "focus" && !state.startedAt) {
          state.startedAt = new Date(now).toISOString();
        }
        state.endsAt = now + state.remainingMs;
        state.running = true;
        announce((state.mode === "focus" ? "Focus" : "Break") + " timer started.");
      }
      save();
      render();
    });

    reset.addEventListener("click", function () {
      state = fresh();
      save();
      announce("Timer reset to " + format(focusMs) + ".");
      render();
    });

    // Another tab changed the timer: follow it.
    window.addEventListener("storage", function (event) {
      if (event.key === TIMER_KEY) {
        state = load();
        render();
      }
    });

    root.hidden = false;
    render();
    flushQueue();
    window.setInterval(render, 250);
  }

  // Sign-up: default the time zone to the browser's, so streak days match the learner's days.
  function detectTimezone() {
    var input = document.querySelector("input[data-detect-timezone]");
    if (input && !input.value && window.Intl && Intl.DateTimeFormat) {
      input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    }
  }

  // Review page (instructors): keys 1-9 pick a rubric point, c/p/m/x set its status,
  // a accepts and moves on, n goes to the next answer without saving. Typing in a field is
  // never intercepted.
  function initReviewShortcuts() {
    var page = document.getElementById("review-page");
    if (!page) {
      return;
    }
    var form = page.querySelector("form.review-form");
    var points = page.querySelectorAll("fieldset.point-review");
    var current = points.length ? 0 : -1;
    var keys = { c: "covered", p: "partial", m: "missing", x: "contradicted" };
    function mark() {
      for (var i = 0; i < points.length; i++) {
        points[i].classList.toggle("selected", i === current);
      }
    }
    mark();
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
      if (tag === "textarea" || (tag === "input" && target.type !== "radio") || tag === "select") {
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      var key = event.key.toLowerCase();
      if (/^[1-9]$/.test(key) && Number(key) <= points.length) {
        current = Number(key) - 1;
        mark();
        var checked = points[current].querySelector("input:checked") || points[current].querySelector("input");
        if (checked) {
          checked.focus();
        }
        event.preventDefault();
      } else if (keys[key] && current >= 0) {
        var radio = points[current].querySelector('input[value="' + keys[key] + '"]');
        if (radio) {
          radio.checked = true;
          radio.focus();
        }
        event.preventDefault();
      } else if (key === "a" && form) {
        var accept = form.querySelector("[data-accept]");
        if (accept) {
          form.requestSubmit ? form.requestSubmit(accept) : accept.click();
        }
        event.preventDefault();
      } else if (key === "n" && page.getAttribute("data-next-url")) {
        window.location.href = page.getAttribute("data-next-url");
        event.preventDefault();
      }
    });
  }

  enhanceThemeToggle();
  initReviewShortcuts();
  detectTimezone();
  enhanceForms();
  document.addEventListener("submit", onHintSubmit, true);
  loadThread();
  enhanceWordCounts();
  resumePolling();
  initTimer();
})();
