// msgpackr wraps this require in try/catch and falls back to its pure-JS string decoder.
throw new Error('msgpackr-extract: native acceleration is not installed (SWOOSH uses the pure-JS decoder)');
