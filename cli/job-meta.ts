/** The job request fields for --name, --tag and --priority, only those given. */
export function jobMetaOf(o: { name?: string; tag?: Record<string, string>; priority?: number }): { name?: string; tags?: Record<string, string>; priority?: number } {
  return {
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.tag !== undefined ? { tags: o.tag } : {}),
    ...(o.priority !== undefined ? { priority: o.priority } : {}),
  };
}
