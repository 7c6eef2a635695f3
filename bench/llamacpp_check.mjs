// llama.cpp's side of bench/llamacpp_check.sh and bench/decode_vs_llamacpp.sh,
// through node-llama-cpp (its prebuilt CPU binaries, nothing compiled here).
//
//   node llamacpp_check.mjs logprobs MODEL.gguf KILN.json [OUT.json]  compare with `kiln eval --logprobs`
//   node llamacpp_check.mjs tokenize MODEL.gguf TEXT        the ids llama.cpp's tokenizer gives
//   node llamacpp_check.mjs generate MODEL.gguf IDS N [TEMP] text after the prompt ids (greedy at TEMP 0)
//   node llamacpp_check.mjs speed MODEL.gguf IDS N          prompt and generation tokens/s
//
// Environment: LLAMACPP_MODULES (the folder holding node_modules/node-llama-cpp),
// LLAMACPP_THREADS (default 1). The KV cache is f32 and flash attention off, so
// llama.cpp computes attention in f32 as kiln does.
import fs from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

const modules = process.env.LLAMACPP_MODULES;
if (!modules) throw new Error("LLAMACPP_MODULES is not set (the folder npm installed node-llama-cpp into)");
const {getLlama, LlamaLogLevel} = await import(
    pathToFileURL(path.join(modules, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const threads = Number(process.env.LLAMACPP_THREADS ?? "1");

// The context holds a few cells more than the tokens evaluated: when it is exactly full,
// node-llama-cpp shifts the context before the last token, which changes that position's logits.
async function open(modelPath, tokens) {
    const contextSize = tokens + 8, batchSize = tokens;
    const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads});
    const model = await llama.loadModel({modelPath, gpuLayers: 0});
    const context = await model.createContext({
        contextSize, batchSize, sequences: 1, threads, flashAttention: false,
        experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
    });
    return {llama, model, context, sequence: context.getSequence()};
}

function idsArgument(value) {
    return value.trim().split(/[\s,]+/).filter(Boolean).map(Number);
}

// llama.cpp's probability of every vocabulary entry after every position,
// against kiln's log-probabilities of the same ids; with `dumpPath`, llama.cpp's
// log-probabilities are written there as kiln writes its own ({tokens, logprobs}).
async function logprobs(modelPath, kilnPath, dumpPath) {
    const kiln = JSON.parse(fs.readFileSync(kilnPath, "utf8"));
    const tokens = kiln.tokens, vocab = kiln.vocab_size;
    const {context, sequence} = await open(modelPath, tokens.length);
    const outputs = await sequence.controlledEvaluate(tokens.map((t) => [t, {generateNext: {probabilities: true}}]));
    let worst = 0, worstAt = [0, 0], worstNext = 0, zeros = 0, nll = 0;
    const dump = [];
    for (let t = 0; t < tokens.length; ++t) {
        const probabilities = outputs[t]?.next?.probabilities;
        if (probabilities === undefined) throw new Error(`llama.cpp gave no probabilities at position ${t}`);
        if (probabilities.size !== vocab) throw new Error(`llama.cpp gave ${probabilities.size} probabilities, kiln's vocabulary has ${vocab}`);
        const row = kiln.logprobs[t];
        if (dumpPath) dump.push(Array.from({length: vocab}, (_, id) => Math.log(probabilities.get(id))));
        for (const [id, p] of probabilities) {
            if (p === 0) { ++zeros; continue; }
            const difference = Math.abs(Math.log(p) - row[id]);
            if (difference > worst) { worst = difference; worstAt = [t, id]; }
        }
        if (t + 1 < tokens.length) {
            const p = probabilities.get(tokens[t + 1]);
            nll -= Math.log(p);
            worstNext = Math.max(worstNext, Math.abs(Math.log(p) - row[tokens[t + 1]]));
        }
    }
    const ppl = Math.exp(nll / (tokens.length - 1));
    if (dumpPath) fs.writeFileSync(dumpPath, JSON.stringify({tokens, logprobs: dump}));
    await context.dispose();
    console.log(JSON.stringify({
        tokens: tokens.length, vocab, max_abs_logprob_diff: worst, at_position: worstAt[0], at_token: worstAt[1],
        max_abs_next_token_diff: worstNext, llamacpp_ppl: ppl, kiln_ppl: kiln.ppl,
        underflowed_probabilities: zeros,
    }));
}

async function tokenize(modelPath, text) {
    const {model, context} = await open(modelPath, 32);
    console.log(model.tokenize(text).join(" "));
    await context.dispose();
}

async function generate(modelPath, ids, count, temperature) {
    const prompt = idsArgument(ids);
    const {model, context, sequence} = await open(modelPath, prompt.length + count);
    const produced = [];
    const eos = model.tokens.eos;
    for await (const token of sequence.evaluate(prompt, {temperature, topK: 40, seed: 7})) {
        produced.push(token);
        if (token === eos || produced.length >= count) break;
    }
    // Detokenized with the prompt, as kiln generate prints it (a lone first piece loses its leading space).
    const text = model.detokenize([...prompt, ...produced.filter((t) => t !== eos)]);
    console.log(JSON.stringify({ids: produced, text}));
    await context.dispose();
}

// Prompt processing (one batch) and greedy generation, each timed on its own;
// a first short run warms the threads and caches as kiln's benchmark does.
async function speed(modelPath, ids, count) {
    const prompt = idsArgument(ids);
    const {context, sequence} = await open(modelPath, prompt.length + count);
    const run = async (n) => {
        await sequence.clearHistory();
        let start = process.hrtime.bigint();
        await sequence.controlledEvaluate(prompt.map((t, i) => i + 1 === prompt.length ? [t, {generateNext: {token: true}}] : t));
        const promptSeconds = Number(process.hrtime.bigint() - start) / 1e9;
        await sequence.clearHistory();
        await sequence.controlledEvaluate(prompt.slice(0, -1));
        start = process.hrtime.bigint();
        let generated = 0;
        // Past the end of document, as kiln generate --ignore-eos: a fixed number of decoding steps.
        for await (const token of sequence.evaluate([prompt[prompt.length - 1]], {temperature: 0, yieldEogToken: true})) {
            if (++generated >= n) break;
            void token;
        }
        const generateSeconds = Number(process.hrtime.bigint() - start) / 1e9;
        return {promptSeconds, generateSeconds, generated};
    };
    await run(8);
    const r = await run(count);
    console.log(JSON.stringify({
        threads, prompt_tokens: prompt.length, prompt_tokens_per_s: prompt.length / r.promptSeconds,
        generated: r.generated, generate_tokens_per_s: r.generated / r.generateSeconds,
    }));
    await context.dispose();
}

const [command, ...rest] = process.argv.slice(2);
if (command === "logprobs") await logprobs(rest[0], rest[1], rest[2]);
else if (command === "tokenize") await tokenize(rest[0], rest[1]);
else if (command === "generate") await generate(rest[0], rest[1], Number(rest[2]), Number(rest[3] ?? "0"));
else if (command === "speed") await speed(rest[0], rest[1], Number(rest[2]));
else throw new Error("usage: llamacpp_check.mjs logprobs|tokenize|generate|speed MODEL.gguf ...");
