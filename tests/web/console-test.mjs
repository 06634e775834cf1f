// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The web console page in Debian's Chromium (headless), driven by
// playwright-core, against a real podvmd that test-web-console.c started
// with a booted test-guest pod. Environment:
//   PODVM_WEB_URL      http://127.0.0.1:PORT (podvmd's TCP listener)
//   PODVM_WEB_TOKEN    its admin token
//   PODVM_WEB_POD      the pod (Running, its guest past PODVM-GUEST-READY)
//   PODVM_WEB_INPUT    a line to type on its console
//   PODVM_WEB_OUT      a directory for a screenshot when a step fails
//   PODVM_NPM_DIR      tools/npm (its node_modules has playwright-core)
//   PODVM_CHROMIUM     the browser (/usr/bin/chromium)
// Prints one line per step; exits 0 when every step passed.
import { createRequire } from "node:module";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
};

const url = env("PODVM_WEB_URL");
const token = env("PODVM_WEB_TOKEN");
const pod = env("PODVM_WEB_POD");
const input = env("PODVM_WEB_INPUT");
const outDir = env("PODVM_WEB_OUT");
const require = createRequire(join(env("PODVM_NPM_DIR"), "package.json"));
const { chromium } = require("playwright-core");

const STEP_TIMEOUT_MS = 30000;

// The flags Chromium needs on a machine without a display, sandbox
// support or outside network (none of its background connections).
const browser = await chromium.launch({
  executablePath: env("PODVM_CHROMIUM"),
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(STEP_TIMEOUT_MS);

// What the page reports: script errors and CSP refusals fail the test.
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
page.on("console", (message) => {
  const text = message.text();
  if (message.type() === "error" || /Content Security Policy/i.test(text)) {
    problems.push(`console ${message.type()}: ${text}`);
  }
});
await page.exposeFunction("podvmTestCspViolation", (text) => problems.push(`CSP: ${text}`));
await page.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (event) => {
    window.podvmTestCspViolation(`${event.violatedDirective} ${event.blockedURI}`);
  });
});

const row = page.locator(`tr[data-pod="${pod}"]`);
const phase = row.locator("td.phase");
const terminalRows = page.locator("#terminal .xterm-rows");

let failed = false;
let stepNumber = 0;

async function step(name, body) {
  stepNumber += 1;
  const started = Date.now();
  try {
    await body();
    console.log(`step ${stepNumber} passed: ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed = true;
    console.log(`step ${stepNumber} FAILED: ${name}: ${error.message.split("\n")[0]}`);
    console.error(error.stack);
    try {
      await page.screenshot({ path: join(outDir, `step-${stepNumber}.png`), fullPage: true });
      console.error(`page text:\n${await page.locator("body").innerText()}`);
    } catch {
      // the page itself is gone
    }
    throw error;
  }
}

async function expectText(locator, pattern, what, timeout = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let last = "";
  for (;;) {
    last = (await locator.count()) > 0 ? await locator.first().innerText() : "";
    if (pattern.test(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: no ${pattern} in ${JSON.stringify(last.slice(-400))}`);
    await page.waitForTimeout(100);
  }
}

try {
  await step("GET /ui/ shows the token form (no token needed for the page)", async () => {
    const response = await page.goto(`${url}/ui/`);
    if (response.status() !== 200) throw new Error(`status ${response.status()}`);
    const csp = response.headers()["content-security-policy"] ?? "";
    if (!csp.includes("default-src 'none'")) throw new Error(`Content-Security-Policy: ${csp}`);
    await page.locator("#login-form").waitFor({ state: "visible" });
  });

  await step("a wrong token is refused on the form", async () => {
    await page.fill("#token", "not-the-token");
    await page.click("#login-form button[type=submit]");
    await expectText(page.locator("#login-error"), /refused/, "the login error");
  });

  await step("the admin token shows the list: the pod is Running", async () => {
    await page.fill("#token", token);
    await page.click("#login-form button[type=submit]");
    await expectText(phase, /^Running$/, "the pod's phase");
    await page.locator("#stream.live").waitFor({ state: "attached" });
  });

  await step("a reload keeps the token (sessionStorage) and the list", async () => {
    await page.reload();
    await expectText(phase, /^Running$/, "the pod's phase after a reload");
    if (await page.locator("#login").isVisible()) throw new Error("the token form is shown again");
    await page.locator("#stream.live").waitFor({ state: "attached" });
  });

  await step("the console shows the guest's marker (WebSocket with a console ticket)", async () => {
    await row.locator("button[data-op=console]").click();
    await expectText(page.locator("#console-state"), /^connected$/, "the console's state");
    await expectText(terminalRows, /PODVM-GUEST-READY/, "the terminal");
  });

  await step("typed input reaches the guest and its answer shows", async () => {
    await page.locator("#terminal").click();
    await page.keyboard.type(input, { delay: 20 });
    await page.keyboard.press("Enter");
    const escaped = input.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    await expectText(terminalRows, new RegExp(`PODVM-ECHO ${escaped}`), "the terminal");
  });

  await step("Pause and Resume: Paused, then Running again in the list", async () => {
    await row.locator("button[data-op=pause]").click();
    await expectText(phase, /^Paused$/, "the pod's phase");
    await row.locator("button[data-op=resume]").click();
    await expectText(phase, /^Running$/, "the pod's phase");
  });

  await step("Stop stops the pod: Stopped in the list from the event stream", async () => {
    await row.locator("button[data-op=stop]").click();
    await expectText(phase, /^Stopped$/, "the pod's phase", 60000);
    if (!(await row.locator("button[data-op=start]").isEnabled())) {
      throw new Error("Start is not enabled on a stopped pod");
    }
  });

  await step("the page reported no script error and no CSP violation", async () => {
    // The wrong token's 401 is the one refusal the browser logs on purpose.
    const real = problems.filter((p) => !/status of 401/.test(p));
    if (real.length > 0) throw new Error(real.join("; "));
  });
} catch {
  // reported by step()
} finally {
  await browser.close();
}
console.log(`${failed ? "FAILED" : "PASSED"} after ${stepNumber} steps`);
process.exit(failed ? 1 : 0);
