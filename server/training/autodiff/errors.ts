/** The forward graph uses an operator (or an operator variant) that the train-step builder cannot differentiate. */
export class UnsupportedOpError extends Error {
  override name = 'UnsupportedOpError';
  constructor(
    readonly opType: string,
    readonly nodeName: string,
    readonly nodeIndex: number,
    readonly detail: string,
  ) {
    super(`unsupported operator ${opType} (node "${nodeName}", index ${nodeIndex}): ${detail}`);
  }
}

/** The forward model, loss choice or batch does not fit together (shapes, dtypes, missing names). */
export class TrainStepError extends Error {
  override name = 'TrainStepError';
}
