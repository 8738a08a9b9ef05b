import { ArgumentMetadata, BadRequestException, Injectable, ValidationPipe } from '@nestjs/common';

/**
 * The validation every request goes through: a body must be a JSON object, and fields of the wrong
 * type are refused with a message naming them, never coerced.
 */
@Injectable()
export class BodyValidationPipe extends ValidationPipe {
  constructor() {
    super({ transform: true, whitelist: false, forbidUnknownValues: true, validationError: { target: false, value: false } });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new BadRequestException('The request body must be a JSON object');
    }
    return super.transform(value, metadata);
  }
}
