// Alpaca's JS SDK (@alpacahq/alpaca-trade-api, the version package.json
// pins), unmodified, against `fillproof serve`, on loopback.
//
// Each case starts `fillproof serve SCENARIO --port 0`, points a short bot
// written the way the SDK's README shows at it by changing only the base
// URLs (its `Api` classes on a `Configuration` with `basePath`, configured
// with the retry and rate limit the `Alpaca` facade gives them; the
// trading stream with `url`), posts the bot's belief to
// /_fillproof/claims, shuts the server down and checks the report it wrote
// against what the case is about.
//
// Usage: node e2e/js/run.mjs path/to/fillproof   (after `npm ci` in e2e/js)
// Exit status 0 when every case holds, 1 otherwise.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

import {
    ApiError,
    DEFAULT_RATE_LIMIT,
    OrdersApi,
    marketData,
    streaming,
    trading,
} from "@alpacahq/alpaca-trade-api";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const KEY = "PKFILLPROOF";
const SECRET = "fillproof-secret";
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** `fillproof serve` in a child process, with its report at the end. */
class Served {
    static running = new Set();

    static async start(fillproof, scenario) {
        const served = new Served();
        served.dir = mkdtempSync(join(tmpdir(), "fillproof-js-"));
        served.reportPath = join(served.dir, "report.json");
        served.process = spawn(
            fillproof,
            ["serve", join(ROOT, scenario), "--port", "0", "--report", served.reportPath],
            { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
        );
        Served.running.add(served);
        served.lines = createInterface({ input: served.process.stdout });
        served.rest = [];
        const first = await new Promise((done) => {
            served.lines.once("line", done);
            served.process.once("exit", () => done(""));
        });
        served.lines.on("line", (line) => served.rest.push(line));
        const prefix = "listening on ";
        if (!first.startsWith(prefix)) {
            throw new Error(`serve printed ${JSON.stringify(first)}, not its address`);
        }
        served.url = first.slice(prefix.length);
        served.exited = new Promise((done) => served.process.once("exit", (code) => done(code)));
        return served;
    }

    async claim(filledQty, avgPrice) {
        const body = { filled_qty: filledQty };
        if (avgPrice) body.avg_price = avgPrice;
        const answer = await fetch(`${this.url}/_fillproof/claims`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
        });
        if (answer.status !== 200) {
            throw new Error(`claims refused: ${answer.status} ${await answer.text()}`);
        }
    }

    async shutdown() {
        await fetch(`${this.url}/_fillproof/shutdown`, { method: "POST" });
        const code = await this.exited;
        Served.running.delete(this);
        const report = JSON.parse(readFileSync(this.reportPath, "utf8"));
        rmSync(this.dir, { recursive: true, force: true });
        return { code, report, summary: this.rest.join("\n") };
    }

    kill() {
        this.process.kill("SIGKILL");
        rmSync(this.dir, { recursive: true, force: true });
    }
}

/** Fails the case naming what was checked, what was expected, what came. */
function expect(what, expected, came) {
    if (!isDeepStrictEqual(expected, came)) {
        throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(came)}`);
    }
}

/** The report of a bot that believed exactly what the broker did. */
function expectClean({ code, report, summary }) {
    expect(`serve's exit code (summary: ${summary.trim()})`, 0, code);
    for (const [metric, value] of [["missed_fills", 0], ["false_positives", 0],
        ["duplicate_orders", 0], ["detection_rate", 1]]) {
        expect(`report ${metric}`, value, report[metric]);
    }
}

/** Waits for `condition()` (sync or async) to hold, at most `deadlineMs`. */
async function waitUntil(condition, deadlineMs, what) {
    const deadline = Date.now() + deadlineMs;
    while (!(await condition())) {
        if (Date.now() > deadline) throw new Error(`no ${what} within ${deadlineMs / 1000} s`);
        await sleep(20);
    }
}

/** What an SDK call answers: its value, or the ApiError's status and code. */
async function refusal(call) {
    try {
        await call();
        return "no error";
    } catch (error) {
        if (error instanceof ApiError) return { status: error.status, code: error.code };
        throw error;
    }
}

/** The trading REST APIs on serve's address, as the README builds them. */
function tradingApis(served) {
    const config = new trading.Configuration({
        keyId: KEY, secret: SECRET, basePath: served.url,
        retry: { maxRetries: 2 }, rateLimit: DEFAULT_RATE_LIMIT,
    });
    return {
        orders: new OrdersApi(config),
        account: new trading.AccountsApi(config),
        clock: new trading.ClockApi(config),
        positions: new trading.PositionsApi(config),
    };
}

/** Polls the order until it reads `filled`, as a bot without the stream would. */
async function pollUntilFilled(orders, orderId, deadlineMs = 5000) {
    let order;
    await waitUntil(async () => {
        order = await orders.getOrderByOrderID({ orderId });
        return order.status === "filled";
    }, deadlineMs, `fill of order ${orderId} read by getOrderByOrderID`);
    return order;
}

/** The SDK's TradingStream on serve's /stream, keeping every trade update
 * as [event, clientOrderId]. */
class TradeUpdates {
    constructor(served) {
        this.events = [];
        this.errors = [];
        this.stream = new streaming.TradingStream({
            credentials: { keyId: KEY, secret: SECRET },
            url: served.url.replace("http://", "ws://") + "/stream",
            reconnect: false,
        });
        this.stream.onTradeUpdate((u) => this.events.push([u.event, u.order.clientOrderId]));
        this.stream.onError((message) => this.errors.push(String(message)));
        this.listening = new Promise((done) => this.stream.on("subscription", done));
        this.stream.onConnect(() => this.stream.subscribeTradeUpdates());
        this.stream.connect();
    }

    async ready() {
        const auth = await this.stream.waitForAuthenticationResult(3000);
        if (!auth.authenticated) {
            throw new Error(`trade_updates stream: ${auth.status} ${auth.message} (${this.errors})`);
        }
        await Promise.race([this.listening, sleep(3000).then(() => {
            throw new Error("trade_updates stream: no 'listening' answer within 3 s");
        })]);
    }

    of(clientOrderId) {
        return this.events.filter(([, cid]) => cid === clientOrderId).map(([event]) => event);
    }

    async waitFor(event, clientOrderId) {
        await waitUntil(() => this.of(clientOrderId).includes(event), 5000,
            `'${event}' event for ${clientOrderId} on trade_updates (events seen: ` +
            `${JSON.stringify(this.events)})`);
    }

    stop() {
        this.stream.disconnect();
    }
}

/** The README's bot: account and clock; two market orders with a
 * clientOrderId and one without, a limit far under the market that it
 * cancels; each fill awaited both on the trade_updates stream and by polling
 * getOrderByOrderID; order lists and positions read. The bot claims what it
 * read; the report finds nothing missed, invented or duplicated. */
async function caseDocumentedBot(fillproof) {
    const served = await Served.start(fillproof, "scenarios/wire/calm-session.yaml");
    const { orders, account, clock, positions } = tradingApis(served);
    const updates = new TradeUpdates(served);
    const later = []; // checks of routes serve is to gain, judged after the rest
    try {
        await updates.ready();
        expect("account status", "ACTIVE", (await account.getAccount()).status);
        try {
            const [nyse] = (await clock.clock()).clocks;
            expect("clock.clock() (GET /v3/clock) market day", true, nyse.isMarketDay);
            expect("clock.clock() (GET /v3/clock) phase", "core", nyse.phase);
        } catch (error) {
            later.push(`clock.clock() (GET /v3/clock): ${JSON.stringify(await refusal(() =>
                Promise.reject(error)))} ${error.message}`);
        }
        expect("legacyClock() (GET /v2/clock) isOpen", true, (await clock.legacyClock()).isOpen);

        const placed = [
            await orders.market({ symbol: "SPY", qty: 5, side: "buy", clientOrderId: "js-0" }),
            await orders.market({ symbol: "SPY", qty: 5, side: "buy", clientOrderId: "js-1" }),
            await orders.market({ symbol: "SPY", qty: 3, side: "buy" }),
        ];
        const resting = await orders.limit({
            symbol: "SPY", qty: 1, side: "buy", limitPrice: "500.00", clientOrderId: "js-rest",
        });
        expect("clientOrderId echoed", "js-0", placed[0].clientOrderId);

        const filled = {};
        for (const order of placed) {
            const final = await pollUntilFilled(orders, order.id);
            await updates.waitFor("fill", order.clientOrderId);
            const same = await orders.getOrderByClientOrderId({ clientOrderId: order.clientOrderId });
            expect(`getOrderByClientOrderId(${order.clientOrderId}).id`, order.id, same.id);
            filled[order.clientOrderId] = final.filledQty;
        }
        expect("filled quantities read",
            { "js-0": "5", "js-1": "5", [placed[2].clientOrderId]: "3" }, filled);

        expect("open orders listed", ["js-rest"],
            (await orders.getAllOrders({ status: "open" })).map((o) => o.clientOrderId));
        await orders.deleteOrderByOrderID({ orderId: resting.id });
        await waitUntil(async () =>
            (await orders.getOrderByOrderID({ orderId: resting.id })).status === "canceled",
        3000, "'canceled' status read after deleteOrderByOrderID");
        await updates.waitFor("canceled", "js-rest");
        filled["js-rest"] = (await orders.getOrderByOrderID({ orderId: resting.id })).filledQty;

        const listed = await orders.getAllOrders({ status: "all", limit: 500 });
        expect("orders listed (status=all)", Object.keys(filled).sort(),
            listed.map((o) => o.clientOrderId).sort());
        expect("SPY position", "13",
            (await positions.getOpenPosition({ symbolOrAssetId: "SPY" })).qty);
        expect("positions listed", ["SPY"],
            (await positions.getAllOpenPositions()).map((p) => p.symbol));
        expect("getOpenPosition of a flat symbol", { status: 404, code: 40410000 },
            await refusal(() => positions.getOpenPosition({ symbolOrAssetId: "QQQ" })));
        expect("deleteOrderByOrderID of a filled order", { status: 422, code: 42210000 },
            await refusal(() => orders.deleteOrderByOrderID({ orderId: placed[0].id })));
        const streamFills = updates.events.filter(([e]) => e === "fill").map(([, c]) => c).sort();
        expect("fills seen on trade_updates", placed.map((o) => o.clientOrderId).sort(), streamFills);
        updates.stop();

        await served.claim(filled);
        expectClean(await served.shutdown());
    } finally {
        updates.stop();
    }
    if (later.length) throw new Error(later.join("; "));
}

/** The README's market-data calls (latest quote and trade, minute bars,
 * snapshot) on a market-data Configuration pointed at serve, then limit
 * buys at the two asks read, polled to their fills; the bot claims
 * quantities and prices, and the report finds them right. */
async function caseMarketDataBot(fillproof) {
    const served = await Served.start(fillproof, "scenarios/wire/market-data-bot.yaml");
    const { orders } = tradingApis(served);
    const stocks = new marketData.StockApi(new marketData.Configuration({
        keyId: KEY, secret: SECRET, basePath: served.url,
        retry: { maxRetries: 2 }, rateLimit: DEFAULT_RATE_LIMIT,
    }));
    const quote = (await stocks.stockLatestQuoteSingle({ symbol: "SPY" })).quote;
    const trade = (await stocks.stockLatestTradeSingle({ symbol: "SPY" })).trade;
    if (!(quote.ap > quote.bp && quote.bp > 0)) throw new Error(`latest quote: ${JSON.stringify(quote)}`);
    if (!(trade.p > 0)) throw new Error(`latest trade: ${JSON.stringify(trade)}`);
    const bars = await stocks.stockBarSingle({
        symbol: "SPY", timeframe: "1Min", start: new Date(Date.now() - 600_000),
    });
    if (!(bars.bars?.length >= 1)) throw new Error(`stockBarSingle: no minute bar: ${JSON.stringify(bars)}`);
    const snapshot = await stocks.stockSnapshotSingle({ symbol: "SPY" });

    const filled = {};
    const prices = {};
    for (const [n, ask] of [quote.ap, snapshot.latestQuote.ap].entries()) {
        const order = await orders.limit({
            symbol: "SPY", qty: Math.floor(10_000 / ask), side: "buy",
            limitPrice: String(ask), clientOrderId: `js-md-${n}`,
        });
        const final = await pollUntilFilled(orders, order.id, 15_000);
        filled[final.clientOrderId] = final.filledQty;
        prices[final.clientOrderId] = final.filledAvgPrice;
    }
    await served.claim(filled, prices);
    const result = await served.shutdown();
    expectClean(result);
    expect("report price_mismatches", 0, result.report.price_mismatches);
}

/** The first submit is applied and answered 504. The SDK never retries a
 * POST; its README says to look the order up by clientOrderId before
 * anything else. The bot does, finds its order, and nothing is missed or
 * duplicated. */
async function case504LookedUpByClientOrderId(fillproof) {
    const served = await Served.start(fillproof, "scenarios/wire/submit-504.yaml");
    const { orders } = tradingApis(served);
    expect("the submit's answer status", 504, (await refusal(() =>
        orders.market({ symbol: "SPY", qty: 5, side: "buy", clientOrderId: "js-504" }))).status);
    const order = await orders.getOrderByClientOrderId({ clientOrderId: "js-504" });
    const final = await pollUntilFilled(orders, order.id);
    await served.claim({ "js-504": final.filledQty });
    const result = await served.shutdown();
    expectClean(result);
    expect("report orders_placed", 1, result.report.orders_placed);
}

/** The same 504 to a bot that sent no clientOrderId, takes the error for
 * "not placed" and sends the order again: the broker holds two orders, the
 * bot believes in one, and the report counts the duplicate and the fill
 * the bot missed (serve exits 1). */
async function case504ResentWithoutClientOrderId(fillproof) {
    const served = await Served.start(fillproof, "scenarios/wire/submit-504.yaml");
    const { orders } = tradingApis(served);
    const body = { symbol: "SPY", qty: 5, side: "buy" };
    expect("the submit's answer status", 504, (await refusal(() => orders.market(body))).status);
    const resent = await orders.market(body);
    const final = await pollUntilFilled(orders, resent.id);
    await served.claim({ [final.clientOrderId]: final.filledQty });
    const { code, report } = await served.shutdown();
    expect("serve's exit code", 1, code);
    expect("report orders_placed", 2, report.orders_placed);
    expect("report duplicate_orders", 1, report.duplicate_orders);
    expect("report missed_fills", 1, report.missed_fills);
    expect("the order marked duplicate_of the first", [resent.id],
        report.orders.filter((o) => o.duplicate_of).map((o) => o.id));
}

async function main() {
    const fillproof = process.argv[2] ?? join(ROOT, "target/release/fillproof");
    const cases = [caseDocumentedBot, caseMarketDataBot, case504LookedUpByClientOrderId,
        case504ResentWithoutClientOrderId];
    let failed = 0;
    for (const testCase of cases) {
        const started = Date.now();
        try {
            await testCase(fillproof);
            console.log(`ok    ${testCase.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        } catch (error) {
            failed += 1;
            console.log(`FAIL  ${testCase.name} (${((Date.now() - started) / 1000).toFixed(1)} s): ` +
                `${error.message}`);
        }
        for (const served of Served.running) served.kill();
        Served.running.clear();
    }
    console.log(`alpaca-trade-api-js end to end: ${cases.length - failed} passed, ${failed} failed`);
    return failed ? 1 : 0;
}

// Exits at once: a closed stream's socket may hold the event loop for ws's
// 30 s close timeout when the server sends no Close frame back.
process.exit(await main());
