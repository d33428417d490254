// Checks a tool call's input against the tool's JSON Schema (Ajv, draft 2020-12) before the tool runs.

import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

export type InputCheck = { ok: true } | { ok: false; problems: string };

/**
 * One Ajv instance and the validators it compiled, keyed by schema object: a tool list is cached, so its schemas are
 * the same objects call after call, and a refreshed list lets the old ones be collected.
 */
export class InputValidator {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  private readonly compiled = new WeakMap<object, ValidateFunction | null>();

  check(schema: Record<string, unknown>, input: unknown): InputCheck {
    // MCP tool arguments are always an object, whatever the schema says.
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      return { ok: false, problems: 'the input must be a JSON object' };
    const validate = this.validator(schema);
    if (validate === null || validate(input)) return { ok: true };
    const problems = (validate.errors ?? [])
      .slice(0, 5)
      .map(
        (error) =>
          `${error.instancePath === '' ? 'input' : `input${error.instancePath}`} ${error.message ?? 'is invalid'}`,
      );
    return { ok: false, problems: problems.join('; ') };
  }

  /** null: the schema does not compile (an unknown dialect or a broken $ref); the tool checks its own input then. */
  private validator(schema: Record<string, unknown>): ValidateFunction | null {
    const known = this.compiled.get(schema);
    if (known !== undefined) return known;
    let validate: ValidateFunction | null;
    try {
      // A declared dialect Ajv2020 does not know (draft-07) would refuse to compile; the keywords tools use agree.
      const { $schema: _dialect, ...rest } = schema;
      validate = this.ajv.compile(rest);
      // Ajv keeps every compiled schema; ours live in the WeakMap instead.
      this.ajv.removeSchema(rest);
    } catch {
      validate = null;
    }
    this.compiled.set(schema, validate);
    return validate;
  }
}
