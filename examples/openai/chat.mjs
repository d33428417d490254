// Ask Rivulet through the official openai package: stream a grounded answer, then list its sources.
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: `${process.env.RIVULET_URL ?? 'http://127.0.0.1:3000'}/v1`,
  apiKey: process.env.RIVULET_API_KEY ?? 'not-needed-on-an-open-local-install', // an API key or a JWT
});

const stream = await client.chat.completions.create({
  model: 'default', // a chatbot id: GET /v1/models lists yours
  messages: [{ role: 'user', content: 'How do I resume a stream after a network drop?' }],
  stream: true,
  stream_options: { include_usage: true },
});

let sources = [];
for await (const chunk of stream) {
  process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
  // Rivulet's extension field: OpenAI clients ignore it.
  if (chunk.rivulet?.sources) sources = chunk.rivulet.sources;
  if (chunk.usage) console.log(`\n(${chunk.usage.total_tokens} tokens)`);
}
for (const source of sources) console.log(`[${source.id}] ${source.title}`);
