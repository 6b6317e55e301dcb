/**
 * Chat templates (Hugging Face `tokenizer_config.json` `chat_template`, Jinja): a task's prompt as the user's
 * turn, rendered as `apply_chat_template(..., add_generation_prompt=True)` renders it, so an instruct model
 * sees what it was trained on. The rendered text carries any BOS itself, so it is encoded as it is.
 */
import { Template } from '@huggingface/jinja';
import { inputError } from '../util/errors.js';

/** The template compiled once; the returned function renders one user message. */
export function chatRenderer(template: string, specials: { bosToken?: string; eosToken?: string } = {}, source = 'tokenizer_config.json: chat_template'): (user: string) => string {
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (err) {
    throw inputError(source, `is not a valid Jinja template (${(err as Error).message})`);
  }
  return (user) =>
    compiled.render({
      messages: [{ role: 'user', content: user }],
      add_generation_prompt: true,
      bos_token: specials.bosToken ?? '',
      eos_token: specials.eosToken ?? '',
    });
}
