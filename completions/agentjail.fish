complete --keep-order --exclusive --command agentjail --arguments "(AGENTJAIL_COMPLETE=fish agentjail -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
