// Loaded in <head> without defer so a chosen theme applies before first paint (no flash).
// Kept tiny and separate from app.js because the CSP forbids inline scripts.
(function () {
  "use strict";
  try {
    var theme = window.localStorage.getItem("learnloop.theme");
    if (theme === "light" || theme === "dark") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (e) {
    // Storage can be disabled (private mode, policies); the system theme still applies.
  }
})();
