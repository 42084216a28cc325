/**
 * Group commit: writes asked for in the same turn of the event loop go to
 * the database in one transaction, so they share one fsync. Each caller
 * still gets its own result, and only after the commit that holds its
 * write. A batch that fails is written again one by one, so that a bad
 * input fails only its own caller.
 */
export class GroupCommit<Input, Output> {
  #pending: {
    input: Input;
    resolve: (output: Output) => void;
    reject: (error: unknown) => void;
  }[] = [];

  /** `writeAll` writes every input in one transaction and returns their results in order. */
  constructor(private readonly writeAll: (inputs: readonly Input[]) => Output[]) {}

  write(input: Input): Promise<Output> {
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) {
        setImmediate(() => {
          this.#flush();
        });
      }
      this.#pending.push({ input, resolve, reject });
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    try {
      const outputs = this.writeAll(batch.map((item) => item.input));
      batch.forEach((item, index) => {
        const output = outputs[index];
        if (outputs.length === batch.length && output !== undefined) item.resolve(output);
        else
          item.reject(new Error(`group commit: no result for write ${index} of ${batch.length}`));
      });
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
      for (const item of batch) {
        try {
          const [output] = this.writeAll([item.input]);
          if (output === undefined) throw new Error('group commit: no result for a single write');
          item.resolve(output);
        } catch (single) {
          item.reject(single);
        }
      }
    }
  }
}
