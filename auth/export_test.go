package auth

// ObserveCodeChecks has s tell observe how many stored hashes each
// recovery-code check compares against (the equal-work test).
func ObserveCodeChecks(s *Service, observe func(comparisons int)) { s.codeCheck = observe }
