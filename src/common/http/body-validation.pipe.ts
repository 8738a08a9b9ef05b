import { ArgumentMetadata, BadRequestException, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';

/**
 * Deepest nesting of objects and arrays a body may have (the body itself is level 1). KoboldAI
 * parameters are flat; the limit keeps the validator's recursion far from the call stack's end.
 */
export const MAX_BODY_DEPTH = 32;

/** Whether objects and arrays nest deeper than `limit` in `value`; iterative, so any depth is safe. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [node, depth] = entry;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(node)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * A hand-written check a body DTO class may offer as a static method, for hot routes: it must answer
 * true only for bodies that class-validator accepts as they are (no transformation needed). Anything
 * it refuses still goes through class-validator, so error messages are the same either way.
 */
export interface FastBodyCheck {
  isValidBody(body: object): boolean;
}

function fastCheckOf(metatype: ArgumentMetadata['metatype']): FastBodyCheck['isValidBody'] | undefined {
  const check = (metatype as Partial<FastBodyCheck> | undefined)?.isValidBody;
  return typeof check === 'function' ? check : undefined;
}

/**
 * The validation every request goes through: a body must be a JSON object, and fields of the wrong
 * type are refused with a message naming them (`params.n must be an integer number`), never coerced.
 *
 * class-validator costs about a quarter of a pop's CPU time (measured with `npm run bench`), so a DTO
 * with a {@link FastBodyCheck} skips it for the bodies that pass that check; the handler then gets the
 * plain parsed object, with the same fields an instance would have.
 */
@Injectable()
export class BodyValidationPipe extends ValidationPipe {
  constructor() {
    super({ transform: true, whitelist: false, forbidUnknownValues: true, validationError: { target: false, value: false } });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new BadRequestException('The request body must be a JSON object');
      }
      if (fastCheckOf(metadata.metatype)?.(value)) return value;
      if (nestsDeeperThan(value, MAX_BODY_DEPTH)) {
        throw new BadRequestException(`The request body nests objects and arrays more than ${MAX_BODY_DEPTH} levels deep`);
      }
    }
    return super.transform(value, metadata);
  }

  /**
   * A field's own errors come first and stand alone: `params must be an object` says more than the
   * errors of its elements would. Nested fields are named by their path.
   */
  protected override flattenValidationErrors(errors: ValidationError[], parentPath = ''): string[] {
    const messages: string[] = [];
    for (const error of errors) {
      const constraints = Object.values(error.constraints ?? {});
      if (constraints.length > 0) {
        messages.push(...constraints.map((message) => (parentPath ? `${parentPath}.${message}` : message)));
      } else if (error.children?.length) {
        const path = parentPath ? `${parentPath}.${error.property}` : error.property;
        messages.push(...this.flattenValidationErrors(error.children, path));
      }
    }
    return messages;
  }
}
