import { after } from 'node:test';
import { openOpenAiPolicy } from '../../src/policy/openai.js';
import { startFakeOpenAi, type FakeOpenAiServer } from '../helpers/fake-openai.js';
import { policyContract } from './contract.js';

const servers: FakeOpenAiServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function fakePolicy(tokenIds: boolean, offsetStyle: 'vllm' | 'openai') {
  const server = await startFakeOpenAi({ offsetStyle });
  servers.push(server);
  return openOpenAiPolicy({ urls: [server.url], tokenIds, env: {}, retries: 0 });
}

policyContract('openai (fake vLLM, token strings)', () => fakePolicy(false, 'vllm'));
policyContract('openai (fake vLLM, token ids)', () => fakePolicy(true, 'vllm'));
policyContract('openai (fake legacy OpenAI offsets)', () => fakePolicy(false, 'openai'));
