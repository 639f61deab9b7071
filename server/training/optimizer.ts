/** The optimizer lives in shared/ since volunteers step it too (local-steps training); re-exported for the coordinator. */
export * from '../../shared/training/optimizer.ts';
