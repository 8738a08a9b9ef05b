/**
 * The plain-Express baseline of `npm run bench`: the same Express and JSON body parser as the server
 * (express.json with the same limit and "any Content-Type" rule), the same JSON round trip as an empty
 * pop, and no Nest. bench/run.ts runs it as a child process with PORT and HOST set.
 */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: 1_048_576, type: () => true }));
app.post('/generate/pop', (req, res) => {
  const body = req.body as { model?: unknown } | undefined;
  if (typeof body?.model !== 'string') {
    res.status(400).json({ statusCode: 400, error: 'Bad Request', message: 'model must be a string' });
    return;
  }
  res.status(200).json({ id: null, skipped: { model: 0, max_content_length: 0, max_length: 0 } });
});
/**
 * The same JSON round trip as a pop that finds work: a fixed body of the shape and size of one (a uuid
 * and the payload with a 1 KB prompt), so the bench can tell what sending the prompt costs by itself.
 */
const WORK = {
  id: '34a9f91a-6db5-4d4c-962f-c4d795739610',
  payload: { max_length: 200, max_content_length: 2048, temperature: 0.7, prompt: 'x'.repeat(1024), n: 1 },
};
app.post('/generate/pop-work', (req, res) => {
  const body = req.body as { model?: unknown } | undefined;
  if (typeof body?.model !== 'string') {
    res.status(400).json({ statusCode: 400, error: 'Bad Request', message: 'model must be a string' });
    return;
  }
  res.status(200).json(WORK);
});
const server = app.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1', () => process.send?.({ ready: true }));
process.on('SIGTERM', () => server.close());
