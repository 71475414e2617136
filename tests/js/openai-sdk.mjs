// The official OpenAI JavaScript SDK, unchanged, against Orleans.AiFleet. Run by ClientApi.Tests.JsSdkTests with
// AIFLEET_BASE_URL (…/v1), AIFLEET_KEY (an admin key) and AIFLEET_POOR_KEY (a key whose budget is exhausted).
// Prints one JSON object of what it saw; exits 1 with the reason on the first surprise.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.AIFLEET_BASE_URL, apiKey: process.env.AIFLEET_KEY, maxRetries: 0 });
const seen = {};
const fail = (why) => { console.error(why); process.exit(1); };

// Models.
const models = [];
for await (const model of client.models.list()) models.push(model.id);
seen.models = models.sort();

// Embeddings: the SDK asks for base64 unless told otherwise, and decodes it.
const embedded = await client.embeddings.create({ model: "text-encoder", input: ["In the beginning", "was the Word"] });
seen.embeddings = embedded.data.map((d) => d.embedding.length);
seen.embeddingTokens = embedded.usage.prompt_tokens;
const asFloats = await client.embeddings.create({ model: "text-encoder", input: "In the beginning", encoding_format: "float" });
const drift = Math.max(...asFloats.data[0].embedding.map((v, i) => Math.abs(v - embedded.data[0].embedding[i])));
if (drift > 1e-6) fail(`base64 and float embeddings differ by ${drift}`);

// Chat, whole and streamed: at temperature 0 both give the same text.
const messages = [{ role: "user", content: "And God said, Let there be" }];
const whole = await client.chat.completions.create({ model: "chat-lm", messages, max_tokens: 30, temperature: 0 });
seen.chat = whole.choices[0].message.content;
seen.chatUsage = whole.usage;
let streamed = "";
let streamUsage = null;
const stream = await client.chat.completions.create({ model: "chat-lm", messages, max_tokens: 30, temperature: 0, stream: true });
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) streamUsage = chunk.usage;
}
if (streamed !== seen.chat) fail(`streamed text ${JSON.stringify(streamed)} differs from ${JSON.stringify(seen.chat)}`);
seen.streamUsage = streamUsage;

// Errors, as the SDK's own error classes.
const expectError = async (what, call, type) => {
  try { await call(); } catch (e) {
    if (!(e instanceof type)) fail(`${what}: expected ${type.name}, got ${e.constructor.name}: ${e.message}`);
    return { status: e.status, code: e.code ?? e.error?.code };
  }
  fail(`${what}: no error`);
};
seen.unknownModel = await expectError("unknown model", () => client.embeddings.create({ model: "nope", input: "x" }), OpenAI.NotFoundError);
seen.badKey = await expectError("bad key", () => new OpenAI({ baseURL: process.env.AIFLEET_BASE_URL, apiKey: "afk_wrong", maxRetries: 0 }).models.list(), OpenAI.AuthenticationError);
seen.badRequest = await expectError("bad request", () => client.chat.completions.create({ model: "chat-lm", messages: [], max_tokens: 5 }), OpenAI.BadRequestError);
const poor = new OpenAI({ baseURL: process.env.AIFLEET_BASE_URL, apiKey: process.env.AIFLEET_POOR_KEY, maxRetries: 0 });
seen.overBudget = await expectError("over budget", () => poor.chat.completions.create({ model: "chat-lm", messages, max_tokens: 20 }), OpenAI.RateLimitError);

console.log(JSON.stringify(seen));
