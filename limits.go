package vendor

// Limits on what a request may carry and a role may hold.
const maxNameLen = 128
