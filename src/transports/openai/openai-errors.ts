// Our coded errors in OpenAI's shape, `{error: {message, type, param, code}}`, so OpenAI clients raise their own
// error classes (AuthenticationError for 401, NotFoundError for 404, ...) from the status.

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: null; code: string };
}

/** OpenAI's error `type` for an HTTP status; `code` stays ours (docs/errors.md). */
export function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** A coded error (a RivuletError, or an `error` event with its code's status). */
export interface CodedError {
  code: string;
  status: number;
  message: string;
}

export function openAiErrorBody(error: CodedError, message = error.message): OpenAiErrorBody {
  return { error: { message, type: openAiErrorType(error.status), param: null, code: error.code } };
}
