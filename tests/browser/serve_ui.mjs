// Drives krllm serve's pages in headless Chromium (Debian's, through playwright-core).
// usage: node serve_ui.mjs chat|context|train BASE_URL SCREENSHOT.png [TRAIN_LOG]
//   chat:  types a Korean prompt, presses send, sees the reply stream in piece by piece, then
//          stops a long reply with the stop button.
//   context: (a stand-in model with a 300-token context) a reply that fills the context makes
//          the next request leave that exchange out; a reply that does not keeps it.
//   train: opens /train, sees the loss chart drawn, appends to TRAIN_LOG and sees it redrawn.
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [mode, base, shot, trainLog] = process.argv.slice(2);
const fail = (msg) => { throw new Error(msg); };
const profile = mkdtempSync(join(tmpdir(), "krllm-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1100, height: 700 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});

async function metric(name) {
  const text = await (await fetch(base + "/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return Number(line.split(" ")[1]);
}

async function chat(page) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base + "/");
  await page.waitForFunction(() => document.getElementById("model").textContent.startsWith("모델:"));
  // Count how often the reply text changes: a streamed reply grows in several steps.
  await page.evaluate(() => {
    window.replyUpdates = 0;
    new MutationObserver(() => { window.replyUpdates++; })
      .observe(document.getElementById("history"), { childList: true, subtree: true, characterData: true });
  });
  const prompt = "안녕하세요! 한국어로 서울의 날씨를 알려 주세요.";
  // A fixed seed makes the stand-in's reply to this prompt 86 characters long (200 tokens); an
  // unseeded reply may end after a word or two, too soon to see it stream.
  await page.fill("#seed", "1");
  await page.fill("#prompt", prompt);
  await page.click("#send");
  const user = page.locator(".msg.user .body").first();
  if ((await user.textContent()) !== prompt) fail("the Korean prompt is not shown as typed");
  await page.waitForSelector(".msg.assistant[data-state=done]", { timeout: 30000 });
  const reply = await page.locator(".msg.assistant .body").first().textContent();
  const updates = await page.evaluate(() => window.replyUpdates);
  if (!reply || reply.length < 2) fail(`no reply text appeared: '${reply}'`);
  if (reply.includes("\uFFFD")) fail(`the reply has broken characters: '${reply}'`);
  if (updates < 4) fail(`the reply did not stream (${updates} updates)`);
  if (await page.locator(".msg.error").count()) fail("the page shows an error: " + await page.locator(".msg.error").first().textContent());
  await page.screenshot({ path: shot });
  console.log(`chat: reply of ${reply.length} characters in ${updates} updates: ${reply.slice(0, 60)}`);

  // The stop button ends a long reply early and the server cancels its generation.
  await page.fill("#seed", "");
  const cancelled = await metric("krllm_cancelled_total");
  await page.evaluate(() => { document.getElementById("max_tokens").value = "1024"; });
  // A sampled reply can end on its own after a few words, and the server may finish a reply whose
  // last words are still on their way to the page when stop is pressed. So: press stop only while
  // a reply is still streaming, and count the attempt only when the server's cancel counter moves;
  // otherwise ask again (a new prompt, a new reply).
  let stopped = 0, cancelledOnServer = false;
  for (let attempt = 0; attempt < 8 && !cancelledOnServer; attempt++) {
    const n = await page.locator(".msg.assistant").count();
    await page.fill("#prompt", `아주 긴 이야기를 들려주세요 (${attempt + 1})`);
    await page.click("#send");
    // Wait for the reply's first words, or for its end: a reply can be empty (the model's first
    // token may end it, or the context may hold no more), and then there is nothing to stop.
    await page.waitForFunction((n) => {
      const all = document.querySelectorAll(".msg.assistant");
      return all.length === n + 1 && (all[n].querySelector(".body").textContent.length > 0 || all[n].dataset.state === "done");
    }, n);
    const pressed = await page.evaluate((n) => {
      if (document.querySelectorAll(".msg.assistant")[n].dataset.state === "done") return false;
      document.getElementById("stop").click();
      return true;
    }, n);
    await page.waitForSelector(`.msg.assistant[data-state=done] >> nth=${n}`);
    if (!pressed) continue;
    stopped++;
    for (let i = 0; i < 40 && !cancelledOnServer; i++) {
      cancelledOnServer = (await metric("krllm_cancelled_total")) > cancelled;
      if (!cancelledOnServer) await page.waitForTimeout(50);
    }
  }
  if (!stopped) fail("every long reply ended before stop could be pressed");
  if (!cancelledOnServer) fail(`stop was pressed ${stopped} times but the server cancelled no generation`);
  if (!(await page.locator("#send").isEnabled())) fail("send is not enabled again after stop");
  if (errors.length) fail("page errors: " + errors.join("; "));
  console.log("chat: stop button cancelled the reply");
}

async function contextTrim(page) {
  const sent = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().endsWith("/v1/chat/completions")) sent.push(JSON.parse(r.postData()));
  });
  await page.goto(base + "/");
  await page.waitForFunction(() => document.getElementById("model").textContent.startsWith("모델:"));
  // Sends a prompt, waits for the reply; returns the requests it took.
  const ask = async (text, maxTokens) => {
    const n = await page.locator(".msg.assistant").count(), before = sent.length;
    await page.evaluate((m) => { document.getElementById("max_tokens").value = m; }, String(maxTokens));
    await page.fill("#prompt", text);
    await page.click("#send");
    await page.waitForSelector(`.msg.assistant[data-state=done] >> nth=${n}`);
    const reply = await page.locator(".msg.assistant .body").nth(n).textContent();
    if (!reply) fail(`no reply to '${text}'`);
    return sent.slice(before);
  };
  // With seed 3 the stand-in's reply to this prompt runs until the context is full (247 tokens).
  await page.fill("#seed", "3");
  await ask("긴 이야기를 들려주세요", 1024);
  // The next prompt goes out without that exchange, at once (not after a context_length_exceeded
  // answer to a request that still held it).
  const second = await ask("짧게 답해 주세요", 20);
  if (second.length !== 1 || second[0].messages.length !== 1)
    fail(`after a reply that filled the context: ${second.length} requests, with ${second.map((b) => b.messages.length)} messages`);
  const third = await ask("하나 더", 20);
  if (third.length !== 1 || third[0].messages.length !== 3)
    fail(`a short exchange was not kept: ${third.length} requests, with ${third.map((b) => b.messages.length)} messages`);
  if (await page.locator(".msg.error").count()) fail("the page shows an error: " + await page.locator(".msg.error").first().textContent());
  await page.screenshot({ path: shot });
  console.log("context: the exchange that filled the context was left out of the next request, a short one kept");
}

async function train(page) {
  await page.goto(base + "/train");
  const loss = page.locator('figure[data-chart="loss"] canvas');
  await page.waitForFunction(() => Number(document.querySelector('figure[data-chart="loss"] canvas').dataset.points) > 0);
  const before = Number(await loss.getAttribute("data-points"));
  // Count non-background pixels: a drawn line leaves coloured pixels on the canvas.
  const inked = await page.evaluate(() => {
    const c = document.querySelector('figure[data-chart="loss"] canvas');
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > d[i] + 60) n++; // bluish: the loss line
    return n;
  });
  if (inked < 50) fail(`the loss chart has no line (${inked} blue pixels)`);
  for (const name of ["learning rate", "gradient norm", "tokens / s"]) {
    const n = Number(await page.locator(`figure[data-chart="${name}"] canvas`).getAttribute("data-points"));
    if (!(n > 0)) fail(`chart '${name}' has no points`);
  }
  await page.screenshot({ path: shot });
  // Training goes on: new lines appear in the chart without reloading the page.
  let lines = "";
  for (let s = 1000; s < 1010; s++) lines += JSON.stringify({ step: s, loss: 2.0, lr: 1e-4, grad_norm: 0.5, tokens_per_sec: 900 }) + "\n";
  appendFileSync(trainLog, lines);
  await page.waitForFunction((n) => Number(document.querySelector('figure[data-chart="loss"] canvas').dataset.points) >= n + 10,
    before, { timeout: 15000 });
  console.log(`train: ${before} loss/val points drawn, then ${before + 10} after the log grew`);
}

try {
  const page = context.pages()[0] || await context.newPage();
  if (mode === "chat") await chat(page);
  else if (mode === "context") await contextTrim(page);
  else if (mode === "train") await train(page);
  else fail("mode must be chat, context or train");
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
