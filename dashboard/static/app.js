// Staff dashboard behaviour. Hand-written, no library; every page works
// without it, this only adds comfort (shortcuts, live theme, relative times).
(function () {
  "use strict";

  var doc = document;
  var root = doc.documentElement;
  var crm = (window.crm = window.crm || {});

  function csrfToken() {
    var meta = doc.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  // fetch with the session cookie and the CSRF header the server checks on
  // every unsafe method.
  crm.fetch = function (input, init) {
    init = Object.assign({ credentials: "same-origin" }, init || {});
    var headers = new Headers(init.headers || {});
    if (!headers.has("X-CSRF-Token")) headers.set("X-CSRF-Token", csrfToken());
    if (!headers.has("Accept")) headers.set("Accept", "text/html, application/json");
    init.headers = headers;
    return window.fetch(input, init);
  };

  // ---------- theme ----------
  var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  crm.theme = {
    // "light" | "dark" | "system", as the server set it on <html>.
    get: function () {
      return root.dataset.theme || "system";
    },
    // What is actually shown; "system" resolves through matchMedia.
    effective: function () {
      var t = crm.theme.get();
      if (t === "system") return darkQuery && darkQuery.matches ? "dark" : "light";
      return t;
    },
    set: function (theme) {
      if (theme !== "light" && theme !== "dark" && theme !== "system") return;
      root.dataset.theme = theme;
      var meta = doc.querySelector('meta[name="color-scheme"]');
      if (meta) meta.setAttribute("content", theme === "system" ? "light dark" : theme);
      syncToggle();
    },
  };

  function syncToggle() {
    var next = crm.theme.effective() === "dark" ? "light" : "dark";
    doc.querySelectorAll("[data-theme-toggle] button[name=theme]").forEach(function (b) {
      b.value = next;
    });
  }

  if (darkQuery) {
    var onSchemeChange = function () {
      syncToggle();
      refreshRelative();
    };
    if (darkQuery.addEventListener) darkQuery.addEventListener("change", onSchemeChange);
    else if (darkQuery.addListener) darkQuery.addListener(onSchemeChange);
  }

  // The top bar's toggle: switch at once, then save in the background; the
  // form still posts normally when fetch fails.
  doc.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches || !form.matches("[data-theme-toggle]")) return;
    ev.preventDefault();
    var button = ev.submitter || form.querySelector("button[name=theme]");
    var theme = button ? button.value : "";
    var body = new URLSearchParams(new FormData(form));
    body.set("theme", theme);
    crm.theme.set(theme);
    crm.fetch(form.action, {
      method: "POST",
      body: body,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    }).catch(function () {});
  });

  // The preferences page previews the theme as soon as a radio is picked.
  doc.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t && t.name === "theme" && t.type === "radio" && t.closest("[data-theme-choice]")) {
      crm.theme.set(t.value);
    }
  });

  // ---------- keyboard ----------
  function typingInto(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  doc.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "/" && !typingInto(doc.activeElement)) {
      var search = doc.querySelector("input[data-shortcut='/']");
      if (search) {
        ev.preventDefault();
        search.focus();
        search.select();
      }
    } else if (ev.key === "Escape") {
      var open = doc.querySelector("details[data-menu][open]");
      if (open) {
        open.removeAttribute("open");
        var summary = open.querySelector("summary");
        if (summary) summary.focus();
      } else if (doc.activeElement && doc.activeElement.matches("input[data-shortcut]")) {
        doc.activeElement.blur();
      }
    }
  });

  // Menus close when the user clicks elsewhere.
  doc.addEventListener("click", function (ev) {
    doc.querySelectorAll("details[data-menu][open]").forEach(function (d) {
      if (!d.contains(ev.target)) d.removeAttribute("open");
    });
  });

  // ---------- relative times ----------
  // <time datetime="2026-12-01T09:30:00Z" data-relative>1 Ara 09:30</time>:
  // the server's absolute text stays in the title.
  var UNITS = [
    ["year", 31536000],
    ["month", 2592000],
    ["week", 604800],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ];

  function relativeText(date, now, rtf) {
    var diff = (date.getTime() - now) / 1000;
    var abs = Math.abs(diff);
    if (abs < 45) return rtf.format(0, "second");
    for (var i = 0; i < UNITS.length; i++) {
      var unit = UNITS[i];
      if (abs >= unit[1] || unit[0] === "second") {
        return rtf.format(Math.round(diff / unit[1]), unit[0]);
      }
    }
    return "";
  }

  function refreshRelative() {
    if (!window.Intl || !Intl.RelativeTimeFormat) return;
    var rtf = new Intl.RelativeTimeFormat(root.lang || "tr", { numeric: "auto" });
    var now = Date.now();
    doc.querySelectorAll("time[datetime][data-relative]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = relativeText(date, now, rtf);
    });
  }
  crm.refreshRelative = refreshRelative;

  // ---------- toasts ----------
  var TOAST_MS = 6000;

  function dismiss(toast) {
    if (toast && toast.parentNode) toast.parentNode.removeChild(toast);
  }

  function armToast(toast) {
    var timer = setTimeout(function () {
      dismiss(toast);
    }, TOAST_MS);
    // Pause while the pointer or focus is on it, so it can be read.
    toast.addEventListener("mouseenter", function () {
      clearTimeout(timer);
    });
    toast.addEventListener("focusin", function () {
      clearTimeout(timer);
    });
  }

  // crm.toast("Kaydedildi", "success" | "error" | "info")
  crm.toast = function (text, kind) {
    var region = doc.getElementById("toasts");
    if (!region) return null;
    kind = kind || "info";
    var toast = doc.createElement("div");
    toast.className = "toast toast-" + kind;
    var svgNs = "http://www.w3.org/2000/svg";
    var icon = doc.createElementNS(svgNs, "svg");
    icon.setAttribute("class", "icon");
    icon.setAttribute("aria-hidden", "true");
    var use = doc.createElementNS(svgNs, "use");
    use.setAttribute("href", kind === "success" ? "#i-check" : "#i-alert");
    icon.appendChild(use);
    var span = doc.createElement("span");
    span.className = "toast-text";
    span.textContent = text;
    var close = doc.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("data-toast-close", "");
    close.setAttribute("aria-label", region.dataset.closeLabel || "×");
    close.title = region.dataset.closeLabel || "";
    var x = icon.cloneNode(true);
    x.firstChild.setAttribute("href", "#i-close");
    close.appendChild(x);
    toast.appendChild(icon);
    toast.appendChild(span);
    toast.appendChild(close);
    region.appendChild(toast);
    armToast(toast);
    return toast;
  };

  doc.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest("[data-toast-close]");
    if (btn) dismiss(btn.closest(".toast"));
  });

  // ---------- side navigation ----------
  // The drawer is a native popover; close it when a link inside is followed
  // so a back navigation does not restore it open.
  doc.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest("#sidenav a");
    var nav = doc.getElementById("sidenav");
    if (link && nav && nav.hidePopover && nav.matches(":popover-open")) nav.hidePopover();
  });

  // ---------- copy a value (a new API token) ----------
  // <button data-copy="input-id" data-copied="Copied">: copies the input's
  // value and says so; the input selects itself on focus for a manual copy.
  doc.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest("[data-copy]");
    if (!btn) return;
    var input = doc.getElementById(btn.getAttribute("data-copy"));
    if (!input) return;
    input.focus();
    input.select();
    var done = function () {
      crm.toast(btn.getAttribute("data-copied") || "", "success");
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(input.value).then(done, function () {});
    } else if (doc.execCommand && doc.execCommand("copy")) {
      done();
    }
  });

  doc.addEventListener("focusin", function (ev) {
    var t = ev.target;
    if (t && t.matches && t.matches("input[data-select-all]")) t.select();
  });

  function init() {
    syncToggle();
    refreshRelative();
    setInterval(refreshRelative, 60000);
    doc.querySelectorAll("#toasts .toast").forEach(armToast);
    root.dataset.js = "ready";
  }

  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", init);
  else init();
})();
