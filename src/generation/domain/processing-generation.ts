/** One slot of a request, handed to one server by a pop, until the server submits its text. */
export interface ProcessingGeneration {
  id: string;
  promptId: string;
  serverId: string;
  startedAt: number;
  submitted: boolean;
}
